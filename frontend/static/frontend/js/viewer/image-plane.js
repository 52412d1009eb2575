/**
 * An image's plane in the patient coordinate system, for reference lines and for synchronising
 * stacks between viewports.
 *
 * PS3.3 C.7.6.2.1.1: with Image Position (Patient) S (the centre of the first pixel), the row
 * and column direction cosines X and Y of Image Orientation (Patient), and Pixel Spacing
 * [ΔJ between rows, ΔI between columns] (PS3.3 10.7.1.3), the centre of pixel (column i, row j)
 * is at  P = S + X·ΔI·i + Y·ΔJ·j.  Image coordinates here are those of the streaming protocol,
 * where that centre is at (i + 0.5, j + 0.5).
 *
 * Planes are only comparable within one Frame of Reference (C.7.4.1); callers check the UID.
 * No DOM; unit-tested with node.
 * @module viewer/image-plane
 */

/** @typedef {[number, number, number]} Vec3 */

/** |cos| between normals above which two planes count as parallel (no reference line). */
const PARALLEL = Math.cos((0.5 * Math.PI) / 180);

export class ImagePlane {
  /** @type {Vec3} */ #position;
  /** @type {Vec3} */ #row;
  /** @type {Vec3} */ #column;
  /** @type {Vec3} */ #normal;
  #rowSpacing;
  #columnSpacing;
  #rows;
  #columns;

  /**
   * @param {{position: number[], orientation: number[], pixelSpacing: number[], rows: number, columns: number}} geometry
   */
  constructor({ position, orientation, pixelSpacing, rows, columns }) {
    if (!isVector(position, 3)) throw new RangeError('position is [x, y, z]');
    if (!isVector(orientation, 6)) throw new RangeError('orientation is six direction cosines');
    if (!isVector(pixelSpacing, 2) || pixelSpacing[0] <= 0 || pixelSpacing[1] <= 0) {
      throw new RangeError('pixel spacing is two positive numbers');
    }
    if (!(rows > 0 && columns > 0)) throw new RangeError('rows and columns must be positive');
    this.#position = /** @type {Vec3} */ ([...position]);
    this.#row = normalise(/** @type {Vec3} */ (orientation.slice(0, 3)));
    this.#column = normalise(/** @type {Vec3} */ (orientation.slice(3, 6)));
    this.#normal = normalise(cross(this.#row, this.#column));
    if (!this.#normal.every(Number.isFinite)) throw new RangeError('row and column are parallel');
    this.#rowSpacing = pixelSpacing[0];
    this.#columnSpacing = pixelSpacing[1];
    this.#rows = rows;
    this.#columns = columns;
  }

  /**
   * The plane of an instance of the `study` message, or null when it lacks the geometry
   * (projection radiographs, secondary captures, or a missing Pixel Spacing).
   * @param {{position?: number[] | null, orientation?: number[] | null, pixel_spacing?: number[] | null, rows: number, columns: number}} instance
   */
  static fromInstance(instance) {
    try {
      return new ImagePlane({
        position: /** @type {number[]} */ (instance.position),
        orientation: /** @type {number[]} */ (instance.orientation),
        pixelSpacing: /** @type {number[]} */ (instance.pixel_spacing),
        rows: instance.rows,
        columns: instance.columns,
      });
    } catch {
      return null;
    }
  }

  /** @returns {Vec3} unit normal, row × column */
  get normal() {
    return [...this.#normal];
  }

  get rows() {
    return this.#rows;
  }

  get columns() {
    return this.#columns;
  }

  /** Signed position of the plane along its own normal (mm), for sorting a stack. */
  get location() {
    return dot(this.#position, this.#normal);
  }

  /** The centre of the image in the patient system. */
  get centre() {
    return this.imageToPatient(this.#columns / 2, this.#rows / 2);
  }

  /**
   * @param {number} x  image coordinates
   * @param {number} y
   * @returns {Vec3}
   */
  imageToPatient(x, y) {
    const i = (x - 0.5) * this.#columnSpacing;
    const j = (y - 0.5) * this.#rowSpacing;
    return [0, 1, 2].map((k) => this.#position[k] + this.#row[k] * i + this.#column[k] * j);
  }

  /**
   * The image coordinates of a patient point's projection onto this plane.
   * @param {Vec3} point
   * @returns {[number, number]}
   */
  patientToImage(point) {
    const d = sub(point, this.#position);
    return [dot(d, this.#row) / this.#columnSpacing + 0.5, dot(d, this.#column) / this.#rowSpacing + 0.5];
  }

  /**
   * Signed distance (mm) of a patient point from this plane, along the normal.
   * @param {Vec3} point
   */
  distanceTo(point) {
    return dot(sub(point, this.#position), this.#normal);
  }

  /**
   * |cos| of the angle between the two planes' normals (1: parallel, 0: perpendicular).
   * @param {ImagePlane} other
   */
  alignmentWith(other) {
    return Math.abs(dot(this.#normal, other.normal));
  }

  /** The four corners of the image (its outer pixel edges) in the patient system. */
  corners() {
    return [
      this.imageToPatient(0, 0),
      this.imageToPatient(this.#columns, 0),
      this.imageToPatient(this.#columns, this.#rows),
      this.imageToPatient(0, this.#rows),
    ];
  }

  /**
   * The reference line of `source` on this image: where the source image's rectangle cuts
   * this plane, in this image's coordinates and clipped to this image; null when the planes
   * are (nearly) parallel or do not meet within both images.
   * @param {ImagePlane} source
   * @returns {[[number, number], [number, number]] | null}
   */
  referenceLineOf(source) {
    if (this.alignmentWith(source) > PARALLEL) return null;
    const corners = source.corners();
    const distances = corners.map((c) => this.distanceTo(c));
    /** @type {Vec3[]} */
    const points = [];
    for (let k = 0; k < 4; k += 1) {
      const a = corners[k];
      const b = corners[(k + 1) % 4];
      const da = distances[k];
      const db = distances[(k + 1) % 4];
      if (da === 0) points.push(a);
      if ((da < 0 && db > 0) || (da > 0 && db < 0)) {
        const t = da / (da - db);
        points.push(/** @type {Vec3} */ ([0, 1, 2].map((i) => a[i] + (b[i] - a[i]) * t)));
      }
    }
    if (points.length < 2) return null;
    // With a corner on the plane the same point can come twice: keep the farthest pair.
    let best = null;
    let bestLength = 0;
    for (let i = 0; i < points.length; i += 1) {
      for (let j = i + 1; j < points.length; j += 1) {
        const length = Math.hypot(...sub(points[i], points[j]));
        if (length > bestLength) {
          bestLength = length;
          best = [points[i], points[j]];
        }
      }
    }
    if (!best) return null;
    return clipSegment(this.patientToImage(best[0]), this.patientToImage(best[1]), this.#columns, this.#rows);
  }
}

/**
 * Liang–Barsky clipping of a segment to the rectangle [0, width] × [0, height].
 * @param {[number, number]} p
 * @param {[number, number]} q
 * @param {number} width
 * @param {number} height
 * @returns {[[number, number], [number, number]] | null}
 */
export function clipSegment(p, q, width, height) {
  const dx = q[0] - p[0];
  const dy = q[1] - p[1];
  let t0 = 0;
  let t1 = 1;
  const checks = [
    [-dx, p[0]],
    [dx, width - p[0]],
    [-dy, p[1]],
    [dy, height - p[1]],
  ];
  for (const [denominator, numerator] of checks) {
    if (denominator === 0) {
      if (numerator < 0) return null;
      continue;
    }
    const t = numerator / denominator;
    if (denominator < 0) {
      if (t > t1) return null;
      if (t > t0) t0 = t;
    } else {
      if (t < t0) return null;
      if (t < t1) t1 = t;
    }
  }
  if (t1 - t0 <= 1e-9) return null;
  return [
    [p[0] + t0 * dx, p[1] + t0 * dy],
    [p[0] + t1 * dx, p[1] + t1 * dy],
  ];
}

/**
 * @param {unknown} value
 * @param {number} length
 * @returns {value is number[]}
 */
function isVector(value, length) {
  return Array.isArray(value) && value.length === length && value.every(Number.isFinite);
}

/** @param {Vec3} a @param {Vec3} b @returns {Vec3} */
function sub(a, b) {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

/** @param {Vec3} a @param {Vec3} b */
function dot(a, b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** @param {Vec3} a @param {Vec3} b @returns {Vec3} */
function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** @param {Vec3} v @returns {Vec3} */
function normalise(v) {
  const length = Math.hypot(...v);
  return [v[0] / length, v[1] / length, v[2] / length];
}
