// A manual clock for modules that take setTimer/clearTimer: timers run only when told.
export class FakeClock {
  now = 0;
  #next = 1;
  /** @type {Map<number, {at: number, fn: () => void}>} */
  timers = new Map();

  setTimer = (fn, ms) => {
    const id = this.#next++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };

  clearTimer = (id) => {
    this.timers.delete(id);
  };

  /** Delays of the pending timers from now, soonest first. */
  pending() {
    return [...this.timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }

  /** Runs the soonest timer (moving the clock to it), then lets its promises settle. */
  async tick() {
    const [id, timer] = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
    if (id === undefined) throw new Error('no timer pending');
    this.timers.delete(id);
    this.now = timer.at;
    timer.fn();
    await settle();
  }
}

export async function settle() {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
}
