import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ViewTransform } from '../../../frontend/static/frontend/js/viewer/view-transform.js';

const near = (actual, expected, tolerance = 1e-9) =>
  assert.ok(
    actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance),
    `${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`,
  );

const make = (overrides = {}) =>
  new ViewTransform({ imageWidth: 200, imageHeight: 100, viewWidth: 400, viewHeight: 400, ...overrides });

test('fit shows the whole image as large as fits, centred', () => {
  const t = make();
  assert.equal(t.zoom, 2); // 200 px wide into 400
  near(t.imageToScreen(0, 0), [0, 100]);
  near(t.imageToScreen(200, 100), [400, 300]);
  assert.deepEqual(t.visibleRegion(), [0, 0, 200, 100]);
});

test('screenToImage inverts imageToScreen under zoom, pan, rotation and flips', () => {
  const t = make({ aspect: 1.5 });
  t.zoomBy(1.7, 123, 77);
  t.panBy(-31, 12);
  t.rotate(1);
  t.flipHorizontal();
  for (const [x, y] of [[0, 0], [200, 100], [37.5, 81.25]]) {
    near(t.screenToImage(...t.imageToScreen(x, y)), [x, y], 1e-9);
  }
});

test('zooming keeps the image point under the anchor still', () => {
  const t = make();
  const before = t.screenToImage(100, 150);
  t.zoomBy(3, 100, 150);
  near(t.screenToImage(100, 150), before);
  assert.equal(t.zoom, 6);
  assert.equal(t.fitted, false);
});

test('rotating right turns what the reader sees clockwise, about the view centre', () => {
  const t = make();
  // The image's top-left corner starts at the top-left of the picture...
  near(t.imageToScreen(0, 0), [0, 100]);
  t.rotate(1);
  // ...and a quarter turn clockwise puts it at the top-right; the fitted view refits to
  // the now 100-wide, 200-tall picture (zoom 2 still fits 400×400).
  assert.equal(t.rotation, 90);
  near(t.imageToScreen(0, 0), [300, 0]);
  near(t.imageToScreen(200, 100), [100, 400]);
  t.rotate(-1);
  assert.equal(t.rotation, 0);
  near(t.imageToScreen(0, 0), [0, 100]);
});

test('flips mirror the screen picture whatever the rotation', () => {
  const t = make();
  t.rotate(1);
  const [sx, sy] = t.imageToScreen(10, 20);
  t.flipHorizontal();
  near(t.imageToScreen(10, 20), [400 - sx, sy]);
  assert.equal(t.flipped, true);
  t.flipVertical();
  near(t.imageToScreen(10, 20), [400 - sx, 400 - sy]);
  // Two mirrors make a half turn: no longer flipped.
  assert.equal(t.flipped, false);
  assert.equal(t.rotation, 270);
});

test('rotation and flip read back the way the reader made them', () => {
  const t = make();
  t.rotate(1);
  t.flipHorizontal();
  assert.deepEqual([t.rotation, t.flip], [90, 'horizontal']);
  const u = make();
  u.flipVertical();
  assert.deepEqual([u.rotation, u.flip], [0, 'vertical']);
  const v = make();
  v.rotate(2);
  assert.deepEqual([v.rotation, v.flip], [180, null]);
});

test('rotation keeps a panned point at the view centre', () => {
  const t = make();
  t.zoomTo(4);
  t.panBy(40, -20);
  const centre = t.screenToImage(200, 200);
  t.rotate(1);
  near(t.screenToImage(200, 200), centre);
  t.flipVertical();
  near(t.screenToImage(200, 200), centre);
});

test('the canvas matrix draws image rectangles where imageToScreen says', () => {
  const t = make();
  t.rotate(3);
  t.zoomBy(1.5, 10, 10);
  const [a, b, c, d, e, f] = t.matrix;
  const [x, y] = [50, 75];
  near([a * x + c * y + e, b * x + d * y + f], t.imageToScreen(x, y));
});

test('the visible region is clipped to the image and to whole pixels', () => {
  const t = make();
  t.zoomTo(8, 200, 200); // 400 px of view show 50 image pixels around the centre
  assert.deepEqual(t.visibleRegion(), [75, 25, 50, 50]);
  t.panBy(10000, 0);
  assert.equal(t.visibleRegion(), null);
});

test('the request scale counts device pixels and the finer axis of non-square pixels', () => {
  const t = make({ aspect: 2 });
  assert.equal(t.requestScale(2), t.zoom * 2 * 2);
});

test('non-square pixels are shown at their true shape', () => {
  const t = new ViewTransform({ imageWidth: 100, imageHeight: 100, viewWidth: 400, viewHeight: 400, aspect: 2 });
  // 100 rows twice as far apart as the columns: the picture is twice as tall as wide.
  const [x0, y0] = t.imageToScreen(0, 0);
  const [x1, y1] = t.imageToScreen(100, 100);
  assert.equal((y1 - y0) / (x1 - x0), 2);
  assert.equal(y1 - y0, 400);
});

test('1:1 shows one image pixel per device pixel; reset fits and unrotates', () => {
  const t = make();
  t.actualSize(2);
  assert.equal(t.zoom, 0.5);
  t.rotate(1);
  t.flipHorizontal();
  t.reset();
  assert.equal(t.rotation, 0);
  assert.equal(t.flipped, false);
  assert.equal(t.zoom, 2);
  assert.equal(t.fitted, true);
});

test('a fitted view refits on resize and on a new image; a zoomed one keeps its zoom', () => {
  const t = make();
  t.resize(800, 800);
  assert.equal(t.zoom, 4);
  t.setImage(400, 400);
  assert.equal(t.zoom, 2);
  t.zoomTo(3);
  t.setImage(100, 100);
  assert.equal(t.zoom, 3);
});

test('state round-trips between transforms', () => {
  const t = make();
  t.rotate(1);
  t.zoomTo(3);
  t.panBy(5, 6);
  const u = make();
  u.state = t.state;
  near(u.imageToScreen(12, 34), t.imageToScreen(12, 34));
});

test('bad sizes are refused with a clear error', () => {
  assert.throws(() => make({ imageWidth: 0 }), /imageWidth must be a positive number/);
  assert.throws(() => make().resize(NaN, 10), /viewWidth/);
});

test('the screen direction in image coordinates follows rotation and flips', () => {
  const t = make();
  near(t.screenDirectionInImage(1, 0), [1, 0]);
  t.rotate(1); // image +y now points left on screen, image +x points down
  near(t.screenDirectionInImage(0, 1), [1, 0]);
  near(t.screenDirectionInImage(1, 0), [0, -1]);
  t.flipHorizontal();
  near(t.screenDirectionInImage(1, 0), [0, 1]);
});
