/**
 * Turns what the user dropped or picked (files, folders, nested folders) into a flat list of
 * files with their relative paths, using the File and Directory Entries API
 * (DataTransferItem.webkitGetAsEntry, FileSystemDirectoryReader.readEntries).
 * @module upload/walk-entries
 */

/**
 * @typedef {object} QueuedFile
 * @property {File} file
 * @property {string} path  relative path as the user sees it ("CD/IMAGES/IM0001"), for reports
 * @property {number} size
 */

/**
 * @typedef {object} WalkProblem
 * @property {string} path
 * @property {string} reason
 */

// Not instances: the media index (PS3.10 8, DICOMDIR) and operating-system litter. The
// command-line import skips the same names (studies/sources.py).
const SKIPPED_NAMES = new Set(['DICOMDIR', '.DS_Store', 'Thumbs.db', 'desktop.ini']);

/**
 * Whether a file is one to leave out of an upload rather than report as rejected.
 * @param {string} path
 * @returns {boolean}
 */
export function isSkippedPath(path) {
  const normalised = path.replaceAll('\\', '/');
  const base = normalised.slice(normalised.lastIndexOf('/') + 1);
  return (
    SKIPPED_NAMES.has(base) ||
    base.startsWith('._') ||
    normalised.startsWith('__MACOSX/') ||
    normalised.includes('/__MACOSX/')
  );
}

/**
 * Takes the entries out of a drop event. Must be called synchronously in the `drop` handler:
 * the DataTransfer list is emptied once the handler returns.
 * @param {DataTransfer} dataTransfer
 * @returns {{entries: FileSystemEntry[], files: File[]}} entries to walk, plus plain files
 *   from browsers without the entries API
 */
export function takeDropped(dataTransfer) {
  const entries = [];
  const files = [];
  const items = dataTransfer.items ? Array.from(dataTransfer.items) : [];
  if (items.length === 0) {
    return { entries, files: Array.from(dataTransfer.files ?? []) };
  }
  for (const item of items) {
    if (item.kind !== 'file') {
      continue;
    }
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    if (entry) {
      entries.push(entry);
    } else {
      const file = item.getAsFile();
      if (file) files.push(file);
    }
  }
  return { entries, files };
}

/**
 * Every file under the given entries, depth first in the order the browser lists them.
 * Unreadable entries are reported as problems rather than stopping the walk.
 * @param {FileSystemEntry[]} entries
 * @returns {Promise<{files: QueuedFile[], problems: WalkProblem[], skipped: number}>}
 */
export async function walkEntries(entries) {
  /** @type {QueuedFile[]} */
  const files = [];
  /** @type {WalkProblem[]} */
  const problems = [];
  let skipped = 0;
  const stack = [...entries].reverse();
  while (stack.length > 0) {
    const entry = stack.pop();
    const path = entryPath(entry);
    try {
      if (entry.isDirectory) {
        const children = await readAllEntries(entry.createReader());
        for (let i = children.length - 1; i >= 0; i -= 1) {
          stack.push(children[i]);
        }
      } else if (entry.isFile) {
        if (isSkippedPath(path)) {
          skipped += 1;
          continue;
        }
        const file = await fileOf(entry);
        files.push({ file, path, size: file.size });
      }
    } catch (error) {
      problems.push({ path, reason: `could not be read: ${describeError(error)}` });
    }
  }
  return { files, problems, skipped };
}

/**
 * Files from an `<input type=file>` (with or without `webkitdirectory`).
 * @param {Iterable<File>} fileList
 * @returns {{files: QueuedFile[], skipped: number}}
 */
export function queueFromFileList(fileList) {
  const files = [];
  let skipped = 0;
  for (const file of fileList) {
    const path = file.webkitRelativePath || file.name;
    if (isSkippedPath(path)) {
      skipped += 1;
    } else {
      files.push({ file, path, size: file.size });
    }
  }
  return { files, skipped };
}

/**
 * A directory reader answers in chunks (Chromium: 100 entries); read until an empty chunk.
 * @param {FileSystemDirectoryReader} reader
 * @returns {Promise<FileSystemEntry[]>}
 */
async function readAllEntries(reader) {
  const all = [];
  for (;;) {
    const chunk = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (chunk.length === 0) {
      return all;
    }
    all.push(...chunk);
  }
}

/**
 * @param {FileSystemFileEntry} entry
 * @returns {Promise<File>}
 */
function fileOf(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/**
 * "/CD/IMAGES/IM1" -> "CD/IMAGES/IM1"; falls back to the entry's name.
 * @param {FileSystemEntry} entry
 * @returns {string}
 */
function entryPath(entry) {
  return (entry.fullPath || entry.name || '').replace(/^\/+/, '');
}

/**
 * @param {unknown} error
 * @returns {string}
 */
function describeError(error) {
  if (error && typeof error === 'object' && 'message' in error && error.message) {
    return String(error.message);
  }
  if (error && typeof error === 'object' && 'name' in error) {
    return String(error.name);
  }
  return String(error);
}
