// The JSON API of the embedded store (see web-api contract); same origin, so the
// token cookie (when one is configured) rides along.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function getJSON(path, params) {
  let response;
  try {
    response = await fetch(path + query(params), { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, `The server did not answer (${err.message}). Is intent-observe up still running?`);
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
    } catch {
      // the body was not JSON; the status text says enough
    }
    throw new ApiError(response.status, `${response.status} ${detail}`);
  }
  return response.json();
}

/** Time ranges offered by the pickers, as a lower bound relative to now. */
export const RANGES = [
  { key: "1h", label: "1 h", seconds: 3600 },
  { key: "24h", label: "24 h", seconds: 86400 },
  { key: "7d", label: "7 d", seconds: 7 * 86400 },
  { key: "30d", label: "30 d", seconds: 30 * 86400 },
  { key: "all", label: "All", seconds: null },
];

/** The `since` bound, in Unix nanoseconds, for a range key ("" when unbounded). */
export function sinceForRange(key, now = Date.now()) {
  const range = RANGES.find((r) => r.key === key);
  if (!range || range.seconds === null) return "";
  return String(BigInt(Math.round(now - range.seconds * 1000)) * 1000000n);
}
