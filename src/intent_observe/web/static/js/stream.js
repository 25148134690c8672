// The live event stream (/api/stream, Server-Sent Events) with reconnect: on a
// drop it reconnects after a growing delay and resumes after the last event seen.

const MAX_DELAY_MS = 10000;

export class LiveStream {
  constructor({ afterId = null, onEvent, onSummary, onState }) {
    this.afterId = afterId;
    this.onEvent = onEvent || (() => {});
    this.onSummary = onSummary || (() => {});
    this.onState = onState || (() => {});
    this.delay = 500;
    this.source = null;
    this.timer = null;
    this.closed = false;
    this.tail = null;
  }

  start() {
    this.closed = false;
    this.connect();
    return this;
  }

  connect() {
    const params = this.afterId === null ? "" : `?after_id=${encodeURIComponent(this.afterId)}`;
    this.onState("connecting");
    const source = new EventSource(`/api/stream${params}`);
    this.source = source;
    source.addEventListener("open", () => {
      this.delay = 500;
      this.showLive();
    });
    source.addEventListener("intent-event", (msg) => this.receiveEvent(msg));
    source.addEventListener("summary", (msg) => this.receiveSummary(msg));
    source.addEventListener("health", (msg) => this.receiveHealth(msg));
    source.addEventListener("error", () => this.reconnectLater());
  }

  receiveEvent(msg) {
    let event;
    try {
      event = JSON.parse(msg.data);
    } catch {
      return; // a malformed message must not stop the stream
    }
    if (typeof event.id === "number") {
      if (this.afterId !== null && event.id <= this.afterId) return; // already shown
      this.afterId = event.id;
    }
    this.onEvent(event);
  }

  // The tail adapter's health: while it is down the stream is open but nothing new arrives,
  // so the pill says so instead of "live".
  receiveHealth(msg) {
    try {
      this.tail = JSON.parse(msg.data).tail;
    } catch {
      return;
    }
    this.showLive();
  }

  showLive() {
    const tail = this.tail;
    if (tail && tail.ok === false) this.onState("tail-down", tail.problem || tail.error || "the tail adapter is down");
    else this.onState("live");
  }

  receiveSummary(msg) {
    try {
      this.onSummary(JSON.parse(msg.data));
    } catch {
      // ignore a malformed summary; the next one comes in a few seconds
    }
  }

  // EventSource retries by itself, but not after every kind of failure and without
  // resuming where we were; closing and reopening keeps both under our control.
  reconnectLater() {
    if (this.source) this.source.close();
    this.source = null;
    if (this.closed) return;
    this.onState("reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
  }

  stop() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.onState("idle");
  }
}

/** Events per second over a sliding window, for the live-rate sparkline. */
export class RateMeter {
  constructor({ bucketMs = 2000, buckets = 60 } = {}) {
    this.bucketMs = bucketMs;
    this.counts = new Array(buckets).fill(0);
    this.current = Math.floor(Date.now() / bucketMs);
  }

  advance(now = Date.now()) {
    const bucket = Math.floor(now / this.bucketMs);
    const steps = Math.min(bucket - this.current, this.counts.length);
    for (let i = 0; i < steps; i++) {
      this.counts.shift();
      this.counts.push(0);
    }
    this.current = bucket;
  }

  add(n = 1) {
    this.advance();
    this.counts[this.counts.length - 1] += n;
  }

  /** Count an event that happened at `ms` (epoch milliseconds), if it falls in the window. */
  addAt(ms) {
    this.advance();
    const index = this.counts.length - 1 - (this.current - Math.floor(ms / this.bucketMs));
    if (index >= 0 && index < this.counts.length) this.counts[index] += 1;
  }

  /** Per-second rates, oldest first. */
  series() {
    this.advance();
    return this.counts.map((c) => c / (this.bucketMs / 1000));
  }

  /** The rate over the last 10 s, smoothing the bucket in progress. */
  recentRate() {
    const series = this.series();
    const window = Math.max(1, Math.round(10000 / this.bucketMs));
    const recent = series.slice(-window);
    return recent.reduce((a, b) => a + b, 0) / recent.length;
  }
}
