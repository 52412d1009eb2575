/**
 * The toolbar: buttons carry the same action names as the keyboard shortcuts (keymap.js), so
 * a button, a key and a touch all go through Viewer.perform(). The markup lives in the page
 * template; this class wires it and shows the state (pressed tools, layout, cine, window).
 * @module viewer/toolbar
 */

export class Toolbar {
  /** @type {HTMLElement} */
  #root;
  /** @type {HTMLSelectElement | null} */
  #windowSelect;
  /** @type {HTMLInputElement | null} */
  #fps;
  /** What `update` last showed (JSON), and the window choice it left selected. */
  #shown = { state: '', select: '' };

  /**
   * @param {HTMLElement} root
   * @param {{onAction: (action: string) => void, onFps: (fps: number) => void}} handlers
   */
  constructor(root, { onAction, onFps }) {
    this.#root = root;
    this.#windowSelect = root.querySelector('select[data-control="window"]');
    this.#fps = root.querySelector('input[data-control="fps"]');
    root.addEventListener('click', (e) => {
      const button = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest('[data-action]'));
      if (!button || !root.contains(button)) return;
      onAction(/** @type {string} */ (button.dataset.action));
    });
    this.#windowSelect?.addEventListener('change', () => {
      const value = this.#windowSelect?.value;
      if (value) onAction(`window:${value}`);
    });
    this.#fps?.addEventListener('change', () => onFps(Number(this.#fps?.value)));
  }

  /**
   * @param {{tool: string, layout: string, sync: boolean, referenceLines: boolean, playing: boolean,
   *          fps: number, invert: boolean, keyImage?: boolean, windowChoices: Array<{label: string}>, windowIndex: number}} state
   */
  update(state) {
    // Every step of a scroll asks (the key-image button follows the image): mostly nothing
    // changed, and writing the same attributes and select value again restyled the toolbar
    // in every frame.
    const shown = JSON.stringify(state);
    const focused = document.activeElement === this.#fps;
    if (!focused && shown === this.#shown.state && (this.#windowSelect?.value ?? '') === this.#shown.select) return;
    for (const button of this.#root.querySelectorAll('[data-action]')) {
      const action = /** @type {HTMLElement} */ (button).dataset.action ?? '';
      let pressed = null;
      if (action.startsWith('tool:')) pressed = action === `tool:${state.tool}`;
      else if (action.startsWith('layout:')) pressed = action === `layout:${state.layout}`;
      else if (action === 'toggle-sync') pressed = state.sync;
      else if (action === 'toggle-reference-lines') pressed = state.referenceLines;
      else if (action === 'cine') pressed = state.playing;
      else if (action === 'invert') pressed = state.invert;
      else if (action === 'toggle-key-image') pressed = Boolean(state.keyImage);
      if (pressed !== null) button.setAttribute('aria-pressed', String(pressed));
    }
    if (this.#fps && document.activeElement !== this.#fps) this.#fps.value = String(state.fps);
    const select = this.#windowSelect;
    if (select) {
      const labels = state.windowChoices.map((c) => c.label);
      const current = [...select.options].map((o) => o.textContent);
      if (labels.join('\n') !== current.join('\n')) {
        select.replaceChildren(
          ...labels.map((label, i) => {
            const option = document.createElement('option');
            option.value = String(i);
            option.textContent = label;
            return option;
          }),
        );
      }
      select.disabled = labels.length === 0;
      select.value = state.windowIndex >= 0 ? String(state.windowIndex) : '';
    }
    this.#shown = { state: shown, select: select?.value ?? '' };
  }
}
