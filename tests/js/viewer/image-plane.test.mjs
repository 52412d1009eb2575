import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ImagePlane, clipSegment } from '../../../frontend/static/frontend/js/viewer/image-plane.js';

const near = (actual, expected, tolerance = 1e-9) =>
  assert.ok(
    actual.flat().every((v, i) => Math.abs(v - expected.flat()[i]) <= tolerance),
    `${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`,
  );

// 100×100 axial at z = 10, pixels 2 mm, first pixel centre at (-99, -99).
const axial = (z = 10) =>
  new ImagePlane({ position: [-99, -99, z], orientation: [1, 0, 0, 0, 1, 0], pixelSpacing: [2, 2], rows: 100, columns: 100 });
// 100×100 coronal at y = 0 (rows run from head to feet), pixels 2 mm.
const coronal = () =>
  new ImagePlane({ position: [-99, 0, 99], orientation: [1, 0, 0, 0, 0, -1], pixelSpacing: [2, 2], rows: 100, columns: 100 });

test('pixel centres follow PS3.3 C.7.6.2.1.1', () => {
  const plane = axial();
  near(plane.imageToPatient(0.5, 0.5), [-99, -99, 10]);
  // Column index moves along the row direction by the column spacing (Pixel Spacing[1]).
  const aniso = new ImagePlane({ position: [0, 0, 0], orientation: [1, 0, 0, 0, 1, 0], pixelSpacing: [3, 0.5], rows: 4, columns: 4 });
  near(aniso.imageToPatient(2.5, 1.5), [1, 3, 0]);
  near(aniso.patientToImage([1, 3, 7]), [2.5, 1.5]);
  near(plane.centre, [0, 0, 10]);
  assert.equal(plane.location, 10);
  assert.equal(plane.distanceTo([5, 5, 14]), 4);
});

test('the reference line of a coronal image on an axial one runs left-right through y = 0', () => {
  const line = axial().referenceLineOf(coronal());
  assert.ok(line);
  // y = 0 mm is image y = 50 on the axial; the coronal spans the whole width.
  near(line.map((p) => p[1]), [50, 50], 1e-9);
  near(line.map((p) => p[0]).sort((a, b) => a - b), [0, 100], 1e-9);
});

test('the reference line of an axial image on a coronal one sits at its height', () => {
  const line = coronal().referenceLineOf(axial(10));
  // z = 10 on the coronal (first row centre at z = 99, rows going down 2 mm): y = 45 (+0.5).
  near(line.map((p) => p[1]), [45, 45], 1e-9);
});

test('parallel planes and planes that miss each other have no reference line', () => {
  assert.equal(axial(10).referenceLineOf(axial(20)), null);
  // An axial slice far above the coronal image's extent does not cut it.
  assert.equal(coronal().referenceLineOf(axial(500)), null);
});

test('instances without geometry make no plane', () => {
  assert.equal(ImagePlane.fromInstance({ position: null, orientation: null, pixel_spacing: null, rows: 1, columns: 1 }), null);
  assert.equal(
    ImagePlane.fromInstance({ position: [0, 0, 0], orientation: [1, 0, 0, 1, 0, 0], pixel_spacing: [1, 1], rows: 1, columns: 1 }),
    null,
  );
  assert.ok(ImagePlane.fromInstance({ position: [0, 0, 0], orientation: [1, 0, 0, 0, 1, 0], pixel_spacing: [1, 1], rows: 1, columns: 1 }));
});

test('segments are clipped to the image rectangle', () => {
  near(clipSegment([-10, 5], [20, 5], 10, 10), [[0, 5], [10, 5]]);
  assert.equal(clipSegment([-10, -5], [20, -5], 10, 10), null);
  near(clipSegment([2, 2], [3, 3], 10, 10), [[2, 2], [3, 3]]);
});
