/**
 * Which quality a `view` asks for (PROTOCOL.md `view` `quality`). For an `interactive` view
 * the server sends the lossless image only after no newer request came for 300 ms: its guess
 * that the reader has stopped moving. The first view of a stack in a viewport (the study just
 * opened, a series dropped in) follows no movement, so that guess was pure delay there: on the
 * first view of a 200-slice 512² CT the lossless image came about 300 ms after the tiles.
 * Those views ask for `diagnostic` quality, lossless right after the tiles. Views during a
 * scroll, cine or a window drag, and pan/zoom views of the same stack, stay `interactive`
 * (the server's wait and latest-wins unchanged).
 *
 * No DOM; unit-tested with node.
 * @module viewer/view-quality
 */

/**
 * @param {{newStack: boolean, moving: boolean, fast: boolean}} view
 *   newStack: the viewport's first view of the stack it shows; moving: a window drag's view;
 *   fast: scrolling or cine
 * @returns {'interactive'|'diagnostic'}
 */
export function viewQuality({ newStack, moving, fast }) {
  return newStack && !moving && !fast ? 'diagnostic' : 'interactive';
}
