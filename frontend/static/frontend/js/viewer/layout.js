/**
 * The viewport grid: 1×1, 1×2 or 2×2, and one viewport maximised on demand (double click).
 * Which viewports exist never changes; the layout only shows or hides them, so a series stays
 * loaded in a hidden viewport and comes back as it was.
 * @module viewer/layout
 */

/** Layout names and how many viewports each shows. */
export const LAYOUTS = Object.freeze({ '1x1': 1, '1x2': 2, '2x2': 4 });
export const LAYOUT_ORDER = Object.freeze(/** @type {const} */ (['1x1', '1x2', '2x2']));

export class Layout {
  /** @type {HTMLElement} */
  #grid;
  /** @type {HTMLElement[]} */
  #cells;
  /** @type {keyof typeof LAYOUTS} */
  #name = '1x1';
  /** @type {number | null} */
  #maximised = null;

  /**
   * @param {HTMLElement} grid
   * @param {HTMLElement[]} cells  the viewport elements, in viewport order
   */
  constructor(grid, cells) {
    this.#grid = grid;
    this.#cells = cells;
    this.#apply();
  }

  get name() {
    return this.#name;
  }

  /** How many viewports the layout shows (not counting a maximised one). */
  get count() {
    return LAYOUTS[this.#name];
  }

  get maximised() {
    return this.#maximised;
  }

  /** @param {string} name */
  set(name) {
    if (!Object.hasOwn(LAYOUTS, name)) throw new RangeError(`unknown layout ${name}`);
    this.#name = /** @type {keyof typeof LAYOUTS} */ (name);
    this.#maximised = null;
    this.#apply();
  }

  next() {
    const i = LAYOUT_ORDER.indexOf(this.#name);
    this.set(LAYOUT_ORDER[(i + 1) % LAYOUT_ORDER.length]);
  }

  /** @param {number} index */
  isVisible(index) {
    return this.#maximised === null ? index < this.count : index === this.#maximised;
  }

  /** @param {number} index */
  toggleMaximise(index) {
    this.#maximised = this.#maximised === index || this.count === 1 ? null : index;
    this.#apply();
  }

  #apply() {
    this.#grid.dataset.layout = this.#maximised === null ? this.#name : '1x1';
    this.#cells.forEach((cell, index) => {
      cell.hidden = !this.isVisible(index);
    });
  }
}
