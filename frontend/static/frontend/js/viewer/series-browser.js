/**
 * The study's series as a list of cards with thumbnails (WADO-RS `thumbnail`, PS3.18 10.4.1.3
 * via `/dicomweb/studies/{study}/series/{series}/thumbnail`). A card can be dragged onto a
 * viewport, or clicked (tapped) to load its series into the active viewport. A series without a
 * thumbnail (not rendered yet, or the server has none) shows a placeholder with its modality.
 * @module viewer/series-browser
 */

import { seriesTitle } from './dicom-text.js';
import { SERIES_DRAG_TYPE } from './viewport.js';

/** Thumbnails fetched at once; the rest wait so the first images are not starved. */
const PARALLEL_THUMBNAILS = 3;

export class SeriesBrowser {
  /** @type {HTMLElement} */
  #list;
  #thumbnailUrl;
  #onPick;
  /** @type {Map<string, HTMLElement>} */
  #cards = new Map();
  /** @type {Map<string, string>} series UID → object URL of its thumbnail */
  #objectUrls = new Map();
  #generation = 0;

  /**
   * @param {HTMLElement} list  an <ol> or <ul>
   * @param {{thumbnailUrl: (seriesUid: string) => string, onPick: (seriesUid: string) => void}} options
   */
  constructor(list, { thumbnailUrl, onPick }) {
    this.#list = list;
    this.#thumbnailUrl = thumbnailUrl;
    this.#onPick = onPick;
  }

  /**
   * Shows the series of a `study` message. Called again with a newer outline of the same
   * study (instances arrived), it updates in place: known cards keep their thumbnails and
   * focus, new series get a card, vanished ones go.
   * @param {{series: Array<import('./image-stack.js').StudySeries>}} study
   */
  show(study) {
    const wanted = new Set(study.series.map((s) => s.uid));
    for (const [uid, card] of this.#cards) {
      if (wanted.has(uid)) continue;
      this.#cards.delete(uid);
      const url = this.#objectUrls.get(uid);
      if (url) URL.revokeObjectURL(url);
      this.#objectUrls.delete(uid);
      card.remove();
    }
    /** @type {string[]} */
    const fresh = [];
    const cards = study.series.map((series) => {
      const known = this.#cards.get(series.uid);
      if (known) {
        const grew = this.#describe(known, series);
        // A series whose thumbnail failed may have had no image yet: try again once it grows.
        if (grew && known.querySelector('.series-thumb.is-missing')) fresh.push(series.uid);
        return known;
      }
      fresh.push(series.uid);
      return this.#card(series);
    });
    const same = cards.length === this.#list.children.length && cards.every((c, i) => this.#list.children[i] === c);
    if (!same) this.#list.replaceChildren(...cards);
    if (cards.length === 0) {
      const empty = document.createElement('li');
      empty.className = 'series-empty';
      empty.textContent = 'This study has no images.';
      this.#list.replaceChildren(empty);
    }
    if (fresh.length > 0) this.#loadThumbnails(fresh, this.#generation);
  }

  /**
   * Marks the series on show, with the viewport numbers that show them.
   * @param {Map<string, number[]>} shown  series UID → 0-based viewport indices
   */
  markShown(shown) {
    for (const [uid, card] of this.#cards) {
      const viewports = shown.get(uid) ?? [];
      card.classList.toggle('is-shown', viewports.length > 0);
      const badge = /** @type {HTMLElement} */ (card.querySelector('.series-viewports'));
      badge.textContent = viewports.map((i) => String(i + 1)).join(' ');
    }
  }

  /** @param {import('./image-stack.js').StudySeries} series */
  #card(series) {
    const card = document.createElement('li');
    card.className = 'series-card';
    card.draggable = true;
    card.tabIndex = 0;
    card.dataset.seriesInstanceUid = series.uid;
    card.setAttribute('role', 'button');

    const thumb = document.createElement('div');
    thumb.className = 'series-thumb is-placeholder';
    const placeholder = document.createElement('span');
    placeholder.className = 'series-thumb-text';
    placeholder.textContent = series.modality || '?';
    thumb.append(placeholder);

    const title = document.createElement('div');
    title.className = 'series-title';
    title.textContent = seriesTitle(series) || '(no description)';
    const meta = document.createElement('div');
    meta.className = 'series-meta';
    const badge = document.createElement('span');
    badge.className = 'series-viewports';
    badge.title = 'Shown in viewport';
    card.append(thumb, title, meta, badge);

    card.addEventListener('dragstart', (e) => {
      e.dataTransfer?.setData(SERIES_DRAG_TYPE, series.uid);
      e.dataTransfer?.setData('text/plain', series.uid);
      if (e.dataTransfer) e.dataTransfer.effectAllowed = 'copy';
    });
    card.addEventListener('click', () => this.#onPick(series.uid));
    card.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        e.stopPropagation();
        this.#onPick(series.uid);
      }
    });
    this.#cards.set(series.uid, card);
    this.#describe(card, series);
    return card;
  }

  /**
   * The card's text that changes as instances arrive.
   * @param {HTMLElement} card
   * @param {import('./image-stack.js').StudySeries} series
   * @returns {boolean} whether the number of images changed
   */
  #describe(card, series) {
    const frames = series.instances.reduce((sum, i) => sum + Math.max(1, Number(i.frames) || 1), 0);
    card.setAttribute('aria-label', `Series ${seriesTitle(series)}, ${frames} images`);
    const meta = /** @type {HTMLElement} */ (card.querySelector('.series-meta'));
    const text = `${frames} image${frames === 1 ? '' : 's'}`;
    const changed = card.dataset.images !== String(frames);
    if (meta.textContent !== text) meta.textContent = text;
    card.dataset.images = String(frames);
    return changed;
  }

  /**
   * @param {string[]} uids
   * @param {number} generation
   */
  async #loadThumbnails(uids, generation) {
    const queue = [...uids];
    const worker = async () => {
      while (queue.length > 0 && generation === this.#generation) {
        const uid = /** @type {string} */ (queue.shift());
        await this.#loadThumbnail(uid, generation);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_THUMBNAILS }, worker));
  }

  /**
   * @param {string} uid
   * @param {number} generation
   */
  async #loadThumbnail(uid, generation) {
    const card = this.#cards.get(uid);
    const thumb = card?.querySelector('.series-thumb');
    if (!thumb) return;
    try {
      const response = await fetch(this.#thumbnailUrl(uid), {
        headers: { Accept: 'image/jpeg' },
        credentials: 'same-origin',
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      if (generation !== this.#generation || this.#cards.get(uid) !== card || !blob.type.startsWith('image/')) return;
      const url = URL.createObjectURL(blob);
      const previous = this.#objectUrls.get(uid);
      if (previous) URL.revokeObjectURL(previous);
      this.#objectUrls.set(uid, url);
      const img = document.createElement('img');
      img.alt = '';
      img.decoding = 'async';
      img.src = url;
      thumb.replaceChildren(img);
      thumb.classList.remove('is-placeholder', 'is-missing');
    } catch {
      // Keep the placeholder: the series is still usable without a thumbnail.
      thumb.classList.add('is-missing');
    }
  }
}
