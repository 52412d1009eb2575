/**
 * Formatting of sizes and counts for the upload page. Pure functions, no DOM.
 * @module upload/format
 */

const UNITS = ['bytes', 'KB', 'MB', 'GB', 'TB'];

/**
 * A byte count for people, in binary multiples (1 KB = 1024 bytes), as file managers show it.
 * @param {number} bytes
 * @returns {string} e.g. "0 bytes", "1 byte", "512 bytes", "1.5 MB", "12 MB"
 */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return '?';
  }
  if (bytes === 1) {
    return '1 byte';
  }
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) {
    return `${value} bytes`;
  }
  // One decimal below 10 units is enough to see progress move; whole numbers above.
  const digits = value < 10 ? 1 : 0;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/**
 * A count with its noun, singular or plural.
 * @param {number} count
 * @param {string} singular
 * @param {string} [plural] defaults to singular + "s"
 * @returns {string} e.g. "1 file", "3 files"
 */
export function plural(count, singular, plural = `${singular}s`) {
  return `${count.toLocaleString('en')} ${count === 1 ? singular : plural}`;
}

/**
 * A fraction as a whole percentage, clamped to 0–100; 0 when nothing is known yet.
 * @param {number} done
 * @param {number} total
 * @returns {number}
 */
export function percent(done, total) {
  if (!(total > 0) || !(done > 0)) {
    return 0;
  }
  return Math.min(100, Math.floor((done / total) * 100));
}
