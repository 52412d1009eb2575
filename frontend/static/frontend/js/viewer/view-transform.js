/**
 * The view transform of one viewport: where each image pixel lands on the canvas.
 *
 * Image coordinates are full-resolution pixel coordinates as in the streaming protocol
 * (origin at the top-left corner of the first pixel, x to the right along a row, y down; the
 * centre of pixel (column c, row r) is at (c + 0.5, r + 0.5)). Screen coordinates are CSS
 * pixels of the canvas, origin top-left, y down.
 *
 *   screen = O · diag(zoom, zoom · aspect) · (image − imageCentre) + viewCentre + pan
 *
 * O is one of the eight rotations/reflections of the square (a 2×2 matrix of −1, 0, 1).
 * Rotation and flips are applied in *screen* space, so "rotate right" always turns what the
 * reader sees clockwise and "flip horizontal" always mirrors it left-right, whatever was done
 * before. `aspect` is the row spacing over the column spacing (PS3.3 10.7.1.3 Pixel Spacing,
 * or C.7.6.3.1.7 Pixel Aspect Ratio), so non-square pixels are shown at their true shape.
 *
 * No DOM: plain arithmetic, unit-tested with node.
 * @module viewer/view-transform
 */

const MIN_ZOOM = 0.01;
const MAX_ZOOM = 64;

/** @typedef {[number, number, number, number]} Orientation  row-major [a, b, c, d] */

/** Screen-space operations, as matrices acting on screen vectors (y down). */
const ROTATE_RIGHT = /** @type {Orientation} */ ([0, -1, 1, 0]); // (1,0) → (0,1): right → down
const FLIP_H = /** @type {Orientation} */ ([-1, 0, 0, 1]);
const FLIP_V = /** @type {Orientation} */ ([1, 0, 0, -1]);

/**
 * @param {Orientation} m
 * @param {Orientation} n
 * @returns {Orientation} m · n
 */
function multiply(m, n) {
  return [
    m[0] * n[0] + m[1] * n[2],
    m[0] * n[1] + m[1] * n[3],
    m[2] * n[0] + m[3] * n[2],
    m[2] * n[1] + m[3] * n[3],
  ];
}

/**
 * @typedef {object} ViewState
 * @property {number} zoom           CSS pixels per image pixel (horizontal image axis)
 * @property {number} panX           offset of the image centre from the view centre, CSS px
 * @property {number} panY
 * @property {Orientation} orientation
 * @property {boolean} fitted        whether the view is "fit to window" (refits on resize)
 */

export class ViewTransform {
  #imageWidth;
  #imageHeight;
  #aspect;
  #viewWidth;
  #viewHeight;
  #zoom = 1;
  #panX = 0;
  #panY = 0;
  /** @type {Orientation} */
  #o = [1, 0, 0, 1];
  #fitted = true;

  /**
   * @param {{imageWidth: number, imageHeight: number, viewWidth: number, viewHeight: number,
   *          aspect?: number}} size
   */
  constructor({ imageWidth, imageHeight, viewWidth, viewHeight, aspect = 1 }) {
    this.#imageWidth = positive(imageWidth, 'imageWidth');
    this.#imageHeight = positive(imageHeight, 'imageHeight');
    this.#aspect = positive(aspect, 'aspect');
    this.#viewWidth = positive(viewWidth, 'viewWidth');
    this.#viewHeight = positive(viewHeight, 'viewHeight');
    this.fit();
  }

  get imageWidth() {
    return this.#imageWidth;
  }

  get imageHeight() {
    return this.#imageHeight;
  }

  get viewWidth() {
    return this.#viewWidth;
  }

  get viewHeight() {
    return this.#viewHeight;
  }

  /** CSS pixels per image pixel along the image rows. */
  get zoom() {
    return this.#zoom;
  }

  get aspect() {
    return this.#aspect;
  }

  get fitted() {
    return this.#fitted;
  }

  /**
   * Clockwise rotation of the displayed image in degrees (0, 90, 180, 270), read together
   * with `flip`: the picture is the image rotated by this much, then mirrored by `flip`.
   */
  get rotation() {
    const flip = this.flip;
    if (flip === null) return degrees(this.#o);
    // O = F · R^k with F its own inverse, so R^k = F · O.
    return degrees(multiply(flip === 'horizontal' ? FLIP_H : FLIP_V, this.#o));
  }

  /**
   * The mirror applied after `rotation`, or null. A reflection can be written with either
   * mirror; the one needing the smaller rotation is reported, so a vertical flip reads as
   * "flipped vertically", not "rotated 180° and flipped horizontally".
   * @returns {'horizontal'|'vertical'|null}
   */
  get flip() {
    if (!this.flipped) return null;
    const viaH = degrees(multiply(FLIP_H, this.#o));
    const viaV = degrees(multiply(FLIP_V, this.#o));
    return viaH <= viaV ? 'horizontal' : 'vertical';
  }

  /** Whether the image is shown mirrored (a reflection, whichever axis it was made on). */
  get flipped() {
    const [a, b, c, d] = this.#o;
    return a * d - b * c < 0;
  }

  /** @returns {ViewState} */
  get state() {
    return {
      zoom: this.#zoom,
      panX: this.#panX,
      panY: this.#panY,
      orientation: [...this.#o],
      fitted: this.#fitted,
    };
  }

  /** @param {ViewState} state */
  set state(state) {
    this.#o = /** @type {Orientation} */ ([...state.orientation]);
    this.#fitted = Boolean(state.fitted);
    if (this.#fitted) {
      this.fit();
    } else {
      this.#zoom = clampZoom(state.zoom);
      this.#panX = state.panX;
      this.#panY = state.panY;
    }
  }

  /**
   * Another image in the same viewport (the next slice, a new series). A fitted view refits;
   * otherwise zoom and pan stay, which keeps the anatomy still while scrolling a stack.
   * @param {number} width
   * @param {number} height
   * @param {number} [aspect]
   */
  setImage(width, height, aspect = 1) {
    this.#imageWidth = positive(width, 'imageWidth');
    this.#imageHeight = positive(height, 'imageHeight');
    this.#aspect = positive(aspect, 'aspect');
    if (this.#fitted) this.fit();
  }

  /**
   * The canvas changed size (layout, window, tablet rotation).
   * @param {number} width
   * @param {number} height
   */
  resize(width, height) {
    this.#viewWidth = positive(width, 'viewWidth');
    this.#viewHeight = positive(height, 'viewHeight');
    if (this.#fitted) this.fit();
  }

  /** Whole image in view, as large as fits, centred; orientation unchanged. */
  fit() {
    const [a, b, c, d] = this.#o;
    const w = this.#imageWidth;
    const h = this.#imageHeight * this.#aspect;
    const shownWidth = Math.abs(a) * w + Math.abs(b) * h;
    const shownHeight = Math.abs(c) * w + Math.abs(d) * h;
    this.#zoom = clampZoom(Math.min(this.#viewWidth / shownWidth, this.#viewHeight / shownHeight));
    this.#panX = 0;
    this.#panY = 0;
    this.#fitted = true;
  }

  /**
   * One image pixel per device pixel ("1:1"), keeping the point at the view centre still.
   * @param {number} [devicePixelRatio]
   */
  actualSize(devicePixelRatio = 1) {
    this.zoomTo(1 / positive(devicePixelRatio, 'devicePixelRatio'));
  }

  /**
   * @param {number} zoom  CSS pixels per image pixel
   * @param {number} [anchorX]  screen point that stays over the same image point
   * @param {number} [anchorY]
   */
  zoomTo(zoom, anchorX = this.#viewWidth / 2, anchorY = this.#viewHeight / 2) {
    const [ix, iy] = this.screenToImage(anchorX, anchorY);
    this.#zoom = clampZoom(zoom);
    const [sx, sy] = this.imageToScreen(ix, iy);
    this.#panX += anchorX - sx;
    this.#panY += anchorY - sy;
    this.#fitted = false;
  }

  /**
   * @param {number} factor  > 1 magnifies
   * @param {number} [anchorX]
   * @param {number} [anchorY]
   */
  zoomBy(factor, anchorX, anchorY) {
    this.zoomTo(this.#zoom * positive(factor, 'factor'), anchorX, anchorY);
  }

  /**
   * @param {number} dx  CSS pixels
   * @param {number} dy
   */
  panBy(dx, dy) {
    this.#panX += dx;
    this.#panY += dy;
    this.#fitted = false;
  }

  /** @param {number} quarterTurns  +1 = 90° clockwise on screen, −1 = anticlockwise */
  rotate(quarterTurns) {
    const turns = ((Math.round(quarterTurns) % 4) + 4) % 4;
    for (let i = 0; i < turns; i += 1) this.#apply(ROTATE_RIGHT);
  }

  /** Mirror left-right as seen on screen. */
  flipHorizontal() {
    this.#apply(FLIP_H);
  }

  /** Mirror top-bottom as seen on screen. */
  flipVertical() {
    this.#apply(FLIP_V);
  }

  /** Back to the unrotated, unflipped, fitted view. */
  reset() {
    this.#o = [1, 0, 0, 1];
    this.fit();
  }

  /**
   * The canvas 2D transform for drawing in image coordinates:
   * `ctx.setTransform(a, b, c, d, e, f)` maps image (x, y) to screen (a·x + c·y + e, b·x + d·y + f).
   * Multiply every entry by the device pixel ratio when the canvas is backed by device pixels.
   * @returns {[number, number, number, number, number, number]}
   */
  get matrix() {
    const [m00, m01, m10, m11] = this.#linear();
    const cx = this.#imageWidth / 2;
    const cy = this.#imageHeight / 2;
    const tx = this.#viewWidth / 2 + this.#panX;
    const ty = this.#viewHeight / 2 + this.#panY;
    return [m00, m10, m01, m11, tx - (m00 * cx + m01 * cy), ty - (m10 * cx + m11 * cy)];
  }

  /**
   * @param {number} x  image coordinates
   * @param {number} y
   * @returns {[number, number]} screen coordinates
   */
  imageToScreen(x, y) {
    const [a, b, c, d, e, f] = this.matrix;
    return [a * x + c * y + e, b * x + d * y + f];
  }

  /**
   * @param {number} sx  screen coordinates
   * @param {number} sy
   * @returns {[number, number]} image coordinates
   */
  screenToImage(sx, sy) {
    const [a, b, c, d, e, f] = this.matrix;
    const det = a * d - b * c;
    const u = sx - e;
    const v = sy - f;
    return [(d * u - c * v) / det, (a * v - b * u) / det];
  }

  /**
   * Which way, in image coordinates, a screen direction points (for orientation markers).
   * Only the signs matter to callers; the vector is normalised to unit length.
   * @param {number} dx
   * @param {number} dy
   * @returns {[number, number]}
   */
  screenDirectionInImage(dx, dy) {
    const [a, b, c, d] = this.#o;
    // O is orthogonal: its inverse is its transpose. The zoom/aspect scaling keeps signs.
    const x = a * dx + c * dy;
    const y = b * dx + d * dy;
    const length = Math.hypot(x, y) || 1;
    return [x / length, y / length];
  }

  /**
   * The part of the image inside the view, in whole image pixels, or null when none is.
   * This is the `region` of a streaming `view` request.
   * @returns {[number, number, number, number] | null} [x, y, width, height]
   */
  visibleRegion() {
    const corners = [
      this.screenToImage(0, 0),
      this.screenToImage(this.#viewWidth, 0),
      this.screenToImage(0, this.#viewHeight),
      this.screenToImage(this.#viewWidth, this.#viewHeight),
    ];
    const xs = corners.map((p) => p[0]);
    const ys = corners.map((p) => p[1]);
    const x0 = Math.max(0, Math.floor(Math.min(...xs) + 1e-9));
    const y0 = Math.max(0, Math.floor(Math.min(...ys) + 1e-9));
    const x1 = Math.min(this.#imageWidth, Math.ceil(Math.max(...xs) - 1e-9));
    const y1 = Math.min(this.#imageHeight, Math.ceil(Math.max(...ys) - 1e-9));
    if (x1 <= x0 || y1 <= y0) return null;
    return [x0, y0, x1 - x0, y1 - y0];
  }

  /**
   * Device pixels per image pixel: the `scale` of a streaming `view` request. With non-square
   * pixels the finer of the two axes decides, so neither is shown blurred.
   * @param {number} [devicePixelRatio]
   */
  requestScale(devicePixelRatio = 1) {
    return this.#zoom * Math.max(1, this.#aspect) * devicePixelRatio;
  }

  /** @returns {Orientation} O · diag(zoom, zoom · aspect) */
  #linear() {
    const [a, b, c, d] = this.#o;
    const zx = this.#zoom;
    const zy = this.#zoom * this.#aspect;
    return [a * zx, b * zy, c * zx, d * zy];
  }

  /**
   * Applies a screen-space operation about the view centre: the pan turns with the image so
   * whatever was in the middle of the view stays there.
   * @param {Orientation} op
   */
  #apply(op) {
    this.#o = multiply(op, this.#o);
    const [a, b, c, d] = op;
    const px = this.#panX;
    const py = this.#panY;
    this.#panX = a * px + b * py;
    this.#panY = c * px + d * py;
    if (this.#fitted) this.fit();
  }
}

/**
 * The clockwise angle of a rotation matrix R^k (R = quarter turn right).
 * @param {Orientation} rotation
 */
function degrees(rotation) {
  const [a, , c] = rotation;
  if (a === 1) return 0;
  if (c === 1) return 90;
  if (a === -1) return 180;
  return 270;
}

/**
 * @param {number} value
 * @param {string} name
 */
function positive(value, name) {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, not ${value}`);
  }
  return value;
}

/** @param {number} zoom */
function clampZoom(zoom) {
  if (!Number.isFinite(zoom) || zoom <= 0) return 1;
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
}
