import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  isSkippedPath,
  queueFromFileList,
  takeDropped,
  walkEntries,
} from '../../frontend/static/frontend/js/upload/walk-entries.js';

// Stand-ins for the browser's FileSystemEntry objects, with the same callback API. Directory
// readers answer in chunks of `chunk` entries, as Chromium does (100 at a time).
function fileEntry(fullPath, content = 'x', { fails = false } = {}) {
  const name = fullPath.split('/').pop();
  return {
    isFile: true,
    isDirectory: false,
    name,
    fullPath,
    file(resolve, reject) {
      setTimeout(() => (fails ? reject(new Error('NotReadableError')) : resolve(new File([content], name))));
    },
  };
}

function dirEntry(fullPath, children, chunk = 2) {
  return {
    isFile: false,
    isDirectory: true,
    name: fullPath.split('/').pop(),
    fullPath,
    createReader() {
      let offset = 0;
      return {
        readEntries(resolve) {
          const part = children.slice(offset, offset + chunk);
          offset += part.length;
          setTimeout(() => resolve(part));
        },
      };
    },
  };
}

test('a dropped folder is walked depth first, reading every chunk of every directory', async () => {
  const tree = dirEntry('/CD', [
    fileEntry('/CD/A1'),
    dirEntry('/CD/SERIES1', [fileEntry('/CD/SERIES1/IM1'), fileEntry('/CD/SERIES1/IM2'), fileEntry('/CD/SERIES1/IM3')]),
    fileEntry('/CD/A2', 'hello'),
    dirEntry('/CD/EMPTY', []),
  ]);
  const { files, problems, skipped } = await walkEntries([tree, fileEntry('/loose.dcm')]);
  assert.deepEqual(
    files.map((f) => f.path),
    ['CD/A1', 'CD/SERIES1/IM1', 'CD/SERIES1/IM2', 'CD/SERIES1/IM3', 'CD/A2', 'loose.dcm'],
  );
  assert.equal(files[4].size, 5);
  assert.equal(files[4].file.name, 'A2');
  assert.deepEqual(problems, []);
  assert.equal(skipped, 0);
});

test('a large directory answered in many chunks loses no file', async () => {
  const children = Array.from({ length: 250 }, (_, i) => fileEntry(`/big/${i}`));
  const { files } = await walkEntries([dirEntry('/big', children, 100)]);
  assert.equal(files.length, 250);
});

test('an unreadable file is reported and the walk goes on', async () => {
  const tree = dirEntry('/d', [fileEntry('/d/bad', 'x', { fails: true }), fileEntry('/d/good')]);
  const { files, problems } = await walkEntries([tree]);
  assert.deepEqual(files.map((f) => f.path), ['d/good']);
  assert.equal(problems.length, 1);
  assert.equal(problems[0].path, 'd/bad');
  assert.match(problems[0].reason, /NotReadableError/);
});

test('DICOMDIR and operating-system litter are skipped and counted', async () => {
  const tree = dirEntry('/CD', [
    fileEntry('/CD/DICOMDIR'),
    fileEntry('/CD/.DS_Store'),
    fileEntry('/CD/._IM1'),
    fileEntry('/CD/IM1'),
  ]);
  const { files, skipped } = await walkEntries([tree]);
  assert.deepEqual(files.map((f) => f.path), ['CD/IM1']);
  assert.equal(skipped, 3);
});

test('skip rules match the command-line import', () => {
  for (const path of ['DICOMDIR', 'a/DICOMDIR', 'Thumbs.db', 'x/desktop.ini', '__MACOSX/a', 'z/__MACOSX/b', 'd\\._x']) {
    assert.equal(isSkippedPath(path), true, path);
  }
  for (const path of ['IM0001', 'DICOMDIR.txt', 'a/b.dcm', 'MACOSX/a']) {
    assert.equal(isSkippedPath(path), false, path);
  }
});

test('picked files keep their folder-relative path when there is one', () => {
  const inFolder = new File(['abc'], 'IM1');
  Object.defineProperty(inFolder, 'webkitRelativePath', { value: 'CD/S1/IM1' });
  const plain = new File(['abcd'], 'b.dcm');
  const litter = new File([''], 'Thumbs.db');
  const { files, skipped } = queueFromFileList([inFolder, plain, litter]);
  assert.deepEqual(files.map((f) => [f.path, f.size]), [['CD/S1/IM1', 3], ['b.dcm', 4]]);
  assert.equal(skipped, 1);
});

test('dropped items become entries, with plain files as the fallback', () => {
  const folder = dirEntry('/CD', []);
  const file = new File(['x'], 'x.dcm');
  const dataTransfer = {
    items: [
      { kind: 'file', webkitGetAsEntry: () => folder, getAsFile: () => null },
      { kind: 'string', webkitGetAsEntry: () => null, getAsFile: () => null },
      { kind: 'file', getAsFile: () => file },
    ],
    files: [],
  };
  const { entries, files } = takeDropped(dataTransfer);
  assert.deepEqual(entries, [folder]);
  assert.deepEqual(files, [file]);
  // A browser with no DataTransferItemList still gives its FileList.
  assert.deepEqual(takeDropped({ files: [file] }), { entries: [], files: [file] });
});
