/**
 * Splits queued files into upload requests: each request stays under a byte and a file-count
 * limit so the server can parse it and a failure costs one batch, not the whole upload.
 * Pure functions over anything with a numeric `size`; no DOM, no network.
 * @module upload/batcher
 */

/**
 * @typedef {object} BatchLimits
 * @property {number} maxBatchBytes  bytes of file content per request (a larger file travels alone)
 * @property {number} maxBatchFiles  files per request (the server's DATA_UPLOAD_MAX_NUMBER_FILES)
 * @property {number} maxFileBytes   the largest single file a request may carry at all
 */

/**
 * Default limits: modest requests keep per-batch feedback frequent on a slow hospital network.
 * @type {Readonly<BatchLimits>}
 */
export const DEFAULT_LIMITS = Object.freeze({
  maxBatchBytes: 32 * 1024 * 1024,
  maxBatchFiles: 50,
  maxFileBytes: Number.POSITIVE_INFINITY,
});

/**
 * Limits for a server that accepts `maxRequestBytes` per request and `maxFiles` files.
 * @param {number} maxRequestBytes
 * @param {number} maxFiles
 * @param {Readonly<BatchLimits>} [defaults]
 * @returns {BatchLimits}
 */
export function limitsForServer(maxRequestBytes, maxFiles, defaults = DEFAULT_LIMITS) {
  // Multipart framing adds headers per part; leave room for them under the server's cap.
  const overhead = 64 * 1024;
  const requestCap = maxRequestBytes > 0 ? maxRequestBytes : Number.POSITIVE_INFINITY;
  const maxFileBytes = Math.min(
    defaults.maxFileBytes,
    requestCap > overhead ? requestCap - overhead : requestCap,
  );
  const fileCap = maxFiles >= 1 ? Math.floor(maxFiles) : defaults.maxBatchFiles;
  return {
    maxBatchBytes: Math.max(1, Math.min(defaults.maxBatchBytes, maxFileBytes)),
    maxBatchFiles: Math.max(1, Math.min(defaults.maxBatchFiles, fileCap)),
    maxFileBytes,
  };
}

/**
 * Takes the next batch from the front of a queue, keeping the queue's order.
 *
 * Files are added while the batch stays within both limits; the first file that does not fit
 * ends the batch. A file larger than `maxBatchBytes` (but within `maxFileBytes`) is sent
 * alone. Files larger than `maxFileBytes` cannot be sent and are returned in `oversize`.
 *
 * @template {{size: number}} T
 * @param {T[]} queue
 * @param {BatchLimits} limits
 * @returns {{batch: T[], rest: T[], oversize: T[]}}
 */
export function takeBatch(queue, limits) {
  const batch = [];
  const oversize = [];
  let bytes = 0;
  let index = 0;
  for (; index < queue.length; index += 1) {
    const item = queue[index];
    if (item.size > limits.maxFileBytes) {
      oversize.push(item);
      continue;
    }
    // The first file always goes, so a bad limit can never stall the queue.
    const full = batch.length > 0 && batch.length >= limits.maxBatchFiles;
    const tooBig = batch.length > 0 && bytes + item.size > limits.maxBatchBytes;
    if (full || tooBig) {
      break;
    }
    batch.push(item);
    bytes += item.size;
  }
  return { batch, rest: queue.slice(index), oversize };
}

/**
 * The whole queue as batches, in order.
 * @template {{size: number}} T
 * @param {T[]} items
 * @param {BatchLimits} limits
 * @returns {{batches: T[][], oversize: T[]}}
 */
export function planBatches(items, limits) {
  const batches = [];
  const oversize = [];
  let rest = items;
  while (rest.length > 0) {
    const taken = takeBatch(rest, limits);
    oversize.push(...taken.oversize);
    if (taken.batch.length > 0) {
      batches.push(taken.batch);
    }
    rest = taken.rest;
  }
  return { batches, oversize };
}

/**
 * Total bytes of a list of items.
 * @param {{size: number}[]} items
 * @returns {number}
 */
export function totalBytes(items) {
  return items.reduce((sum, item) => sum + item.size, 0);
}
