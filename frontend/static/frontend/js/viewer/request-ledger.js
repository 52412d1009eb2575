/**
 * Latest-wins bookkeeping for `view` requests (PROTOCOL.md "Latest wins"): one increasing id
 * counter per page, the newest request of each viewport, and a verdict for every pixel
 * message that arrives. The server stops sending pixels of a superseded request, but some
 * are already on the wire when the next `view` leaves; those are dropped here.
 *
 * Prefetched whole-frame previews are different: they are valid pictures of *their* frame,
 * so they are kept for the preview cache as long as their rendering settings still match,
 * even when their request is no longer the newest.
 *
 * No DOM; unit-tested with node.
 * @module viewer/request-ledger
 */

/**
 * @typedef {object} IssuedView
 * @property {number} id
 * @property {number} viewport
 * @property {string} instance
 * @property {number} frame
 * @property {string} renderKey            window/VOI/invert settings of the pixels (see renderKey)
 * @property {Array<[string, number]>} prefetch
 * @property {boolean} done
 */

/**
 * @typedef {object} Verdict
 * @property {'draw'|'cache'|'drop'} action
 *   draw: pixels of the viewport's current request; cache: a prefetched preview worth keeping;
 *   drop: stale or unknown.
 * @property {IssuedView} [issued]
 * @property {[string, number]} [target]   the [instance, frame] a prefetch message shows
 */

const REMEMBERED = 256;
const LISTS_REMEMBERED = 16;

export class RequestLedger {
  #last = 0;
  /** @type {Map<number, IssuedView>} */
  #current = new Map();
  /** @type {Map<number, IssuedView>} */
  #recent = new Map();
  /** @type {Map<number, IssuedView>} `previews` requests */
  #lists = new Map();

  /** Next request id for any message (view, frame_info, measure): increasing per page. */
  nextId() {
    this.#last += 1;
    return this.#last;
  }

  /**
   * Records a new `view` for a viewport; from now on its older requests are stale.
   * @param {Omit<IssuedView, 'id'|'done'>} view
   * @param {number} [id]  an id already taken by nextId (a view boot.js sent: viewer.js)
   * @returns {IssuedView}
   */
  issue(view, id = this.nextId()) {
    const issued = { ...view, prefetch: [...(view.prefetch ?? [])], id, done: false };
    this.#current.set(view.viewport, issued);
    this.#recent.set(issued.id, issued);
    if (this.#recent.size > REMEMBERED) {
      const oldest = this.#recent.keys().next().value;
      this.#recent.delete(/** @type {number} */ (oldest));
    }
    return issued;
  }

  /**
   * Records a `previews` request: its pictures are judged like prefetched ones (kept for the
   * cache while the rendering settings match), and it never becomes the viewport's current
   * view.
   * @param {{viewport: number, renderKey: string, items: Array<[string, number]>}} list
   * @returns {IssuedView}
   */
  issueList(list) {
    const issued = {
      viewport: list.viewport,
      instance: '',
      frame: -1,
      renderKey: list.renderKey,
      prefetch: [...list.items],
      id: this.nextId(),
      done: false,
    };
    // Kept apart from views: a long list is still arriving after hundreds of newer views.
    this.#lists.set(issued.id, issued);
    if (this.#lists.size > LISTS_REMEMBERED) {
      this.#lists.delete(/** @type {number} */ (this.#lists.keys().next().value));
    }
    return issued;
  }

  /**
   * The viewport's newest request, if any.
   * @param {number} viewport
   */
  current(viewport) {
    return this.#current.get(viewport);
  }

  /**
   * Whether `id` is the newest request of `viewport`.
   * @param {number} id
   * @param {number} viewport
   */
  isCurrent(id, viewport) {
    const issued = this.#current.get(viewport);
    return issued !== undefined && issued.id === id;
  }

  /**
   * Marks a request finished (`done` or `error` arrived); returns whether it was current.
   * @param {number} id
   * @param {number} viewport
   */
  finish(id, viewport) {
    const issued = this.#recent.get(id);
    if (issued) issued.done = true;
    return this.isCurrent(id, viewport);
  }

  /**
   * Forgets the viewport's request (it was cancelled or emptied): its pixels are now stale.
   * @param {number} viewport
   */
  forget(viewport) {
    this.#current.delete(viewport);
  }

  /**
   * What to do with a pixel message.
   *
   * Pixels of the viewport's newest request are drawn. Pixels of an older request are drawn
   * only if they show exactly what the viewport shows now (same instance, frame and rendering
   * settings: the newer request only moved or zoomed the view); anything else is stale.
   * Prefetched previews go to the cache while their rendering settings are still the
   * viewport's.
   * @param {{request: number, viewport: number, kind: string, item: number, frame: number}} header
   * @param {{instance: string, frame: number, renderKey: string} | undefined} showing
   *   what the viewport shows now
   * @returns {Verdict}
   */
  judge(header, showing) {
    const issued = this.#recent.get(header.request) ?? this.#lists.get(header.request);
    if (!issued || issued.viewport !== header.viewport) return { action: 'drop' };
    if (header.kind === 'prefetch') {
      const target = issued.prefetch[header.item];
      if (!target || target[1] !== header.frame) return { action: 'drop' };
      if (!showing || showing.renderKey !== issued.renderKey) return { action: 'drop' };
      return { action: 'cache', issued, target };
    }
    if (issued.frame !== header.frame) return { action: 'drop' };
    if (this.isCurrent(header.request, header.viewport)) return { action: 'draw', issued };
    const same =
      showing !== undefined &&
      showing.instance === issued.instance &&
      showing.frame === issued.frame &&
      showing.renderKey === issued.renderKey;
    return same ? { action: 'draw', issued } : { action: 'drop' };
  }
}

/**
 * A string naming everything besides the frame that changes the rendered pixels; previews
 * rendered with the same key are interchangeable.
 * @param {{window?: [number, number] | null, voi?: number, function?: string | null, invert?: boolean}} settings
 */
export function renderKey(settings) {
  const window = settings.window ? settings.window.map((v) => +v.toFixed(3)).join('/') : 'default';
  return `${window}|${settings.voi ?? 0}|${settings.function ?? ''}|${settings.invert ? 'inv' : ''}`;
}

/**
 * The settings a render key names (the inverse of renderKey, up to its rounding).
 * @param {string} key
 * @returns {{window: [number, number] | null, voi: number, function: string | null, invert: boolean} | null}
 *   null for a string that is not a render key
 */
export function renderSettings(key) {
  const parts = String(key).split('|');
  if (parts.length !== 4) return null;
  const [windowPart, voiPart, fn, inv] = parts;
  /** @type {[number, number] | null} */
  let window = null;
  if (windowPart !== 'default') {
    const numbers = windowPart.split('/').map(Number);
    if (numbers.length !== 2 || !numbers.every(Number.isFinite)) return null;
    window = [numbers[0], numbers[1]];
  }
  const voi = Number(voiPart);
  if (!Number.isInteger(voi)) return null;
  return { window, voi, function: fn || null, invert: inv === 'inv' };
}
