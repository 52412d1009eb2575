/**
 * Keyboard shortcuts: one table from keys to viewer actions, shown in the help panel too.
 * No DOM; unit-tested with node.
 * @module viewer/keymap
 */

/**
 * @typedef {object} Shortcut
 * @property {string} key      KeyboardEvent.key (case matters: "R" is Shift+r)
 * @property {string} action
 * @property {string} label    what the help panel says
 */

/** @type {ReadonlyArray<Shortcut>} */
export const SHORTCUTS = Object.freeze([
  { key: 'ArrowUp', action: 'previous', label: 'Previous image' },
  { key: 'ArrowLeft', action: 'previous', label: 'Previous image' },
  { key: 'ArrowDown', action: 'next', label: 'Next image' },
  { key: 'ArrowRight', action: 'next', label: 'Next image' },
  { key: 'PageUp', action: 'previous-page', label: 'Back 10 images' },
  { key: 'PageDown', action: 'next-page', label: 'Forward 10 images' },
  { key: 'Home', action: 'first', label: 'First image' },
  { key: 'End', action: 'last', label: 'Last image' },
  { key: ' ', action: 'cine', label: 'Play / stop cine' },
  { key: 'w', action: 'tool:window', label: 'Window / level tool' },
  { key: 's', action: 'tool:scroll', label: 'Stack scroll tool' },
  { key: 'z', action: 'tool:zoom', label: 'Zoom tool' },
  { key: 'p', action: 'tool:pan', label: 'Pan tool' },
  { key: 'l', action: 'tool:length', label: 'Length' },
  { key: 'a', action: 'tool:angle', label: 'Angle' },
  { key: 'e', action: 'tool:ellipse', label: 'Ellipse ROI' },
  { key: 'r', action: 'tool:rectangle', label: 'Rectangle ROI' },
  { key: 'd', action: 'tool:probe', label: 'Probe (pixel value)' },
  { key: 'i', action: 'invert', label: 'Invert' },
  { key: 'f', action: 'fit', label: 'Fit to viewport' },
  { key: 'o', action: 'actual-size', label: 'Original size (1:1)' },
  { key: '+', action: 'zoom-in', label: 'Zoom in' },
  { key: '=', action: 'zoom-in', label: 'Zoom in' },
  { key: '-', action: 'zoom-out', label: 'Zoom out' },
  { key: ']', action: 'rotate-right', label: 'Rotate 90° clockwise' },
  { key: '[', action: 'rotate-left', label: 'Rotate 90° anticlockwise' },
  { key: 'h', action: 'flip-horizontal', label: 'Flip horizontally' },
  { key: 'v', action: 'flip-vertical', label: 'Flip vertically' },
  { key: 'R', action: 'reset', label: 'Reset view and window' },
  { key: '0', action: 'window:0', label: 'Default window' },
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({
    key: String(n),
    action: `window:${n}`,
    label: `Window preset ${n}`,
  })),
  { key: 'g', action: 'next-layout', label: 'Next layout (1×1, 1×2, 2×2)' },
  { key: 'Tab', action: 'next-viewport', label: 'Next viewport' },
  { key: 'y', action: 'toggle-sync', label: 'Synchronised scrolling on/off' },
  { key: 'S', action: 'save-measurements', label: 'Save the measurements as a DICOM SR report' },
  { key: 'k', action: 'toggle-key-image', label: 'Flag / unflag this image as a key image' },
  { key: 'K', action: 'save-key-images', label: 'Save the key images (Key Object Selection)' },
  { key: 'Delete', action: 'delete-measurement', label: 'Delete the selected (else last) measurement' },
  { key: 'Backspace', action: 'delete-measurement', label: 'Delete the selected (else last) measurement' },
  { key: 'Escape', action: 'escape', label: 'Cancel drawing, close help' },
  { key: '?', action: 'help', label: 'Show these shortcuts' },
]);

const BY_KEY = new Map(SHORTCUTS.map((s) => [s.key, s.action]));

/**
 * The viewer action of a key press, or null (the browser keeps the key).
 * @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean, shiftKey?: boolean}} event
 * @returns {string | null}
 */
export function actionForKey(event) {
  // Ctrl/Cmd/Alt combinations belong to the browser and the operating system.
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  if (event.key === 'Tab' && event.shiftKey) return 'previous-viewport';
  return BY_KEY.get(event.key) ?? null;
}
