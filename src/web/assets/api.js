// Talking to the gateway: JSON requests with the API key, the upload with progress events,
// and the WebSocket address. Every failure becomes an ApiError carrying the gateway's message.

const KEY_STORAGE = "fluxprint.apiKey";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Kept in memory too, for browsers where storage is off (private mode).
let memoryKey = "";

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? "";
  } catch {
    return "";
  }
}

export function setApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage is off: the key lives only as long as the page.
  }
  memoryKey = key;
}

function currentKey() {
  return apiKey() || memoryKey;
}

// What to say when the answer carries no JSON error (a proxy, a body limit, a crash).
function fallbackMessage(status) {
  switch (status) {
    case 401: return "The API key is missing or wrong";
    case 413: return "File too large (max 100MB)";
    case 429: return "Too many requests; try again in a moment";
    default: return `The gateway answered HTTP ${status}`;
  }
}

function errorFromBody(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && body.error && body.error.message) {
      return new ApiError(status, body.error.code, body.error.message);
    }
  } catch {
    // Not JSON: fall through to the generic message.
  }
  return new ApiError(status, "http", fallbackMessage(status));
}

const unreachable = () => new ApiError(0, "network", "The gateway cannot be reached");

export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = currentKey();
  if (key) headers["X-Api-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw unreachable();
  }
  const text = await response.text();
  if (!response.ok) throw errorFromBody(response.status, text);
  return text ? JSON.parse(text) : null;
}

// XMLHttpRequest rather than fetch: only it reports upload progress.
export function upload(formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.setRequestHeader("Accept", "application/json");
    const key = currentKey();
    if (key) xhr.setRequestHeader("X-Api-Key", key);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100));
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "http", "The gateway sent an unreadable answer"));
        }
      } else {
        reject(errorFromBody(xhr.status, xhr.responseText));
      }
    });
    xhr.addEventListener("error", () => reject(unreachable()));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "Upload aborted")));
    xhr.send(formData);
  });
}

export function liveUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const key = currentKey();
  const query = key ? `?api_key=${encodeURIComponent(key)}` : "";
  return `${scheme}//${location.host}/api/ws${query}`;
}

// Images behind the read gate (thumbnails): fetched with the key, kept as object URLs, one
// fetch per path for the page's lifetime (a stored file's thumbnail never changes).
const images = new Map();

export function imageUrl(path) {
  if (!images.has(path)) {
    const key = currentKey();
    const loaded = fetch(path, { headers: key ? { "X-Api-Key": key } : {} })
      .then((response) => (response.ok ? response.blob() : null))
      .then((blob) => (blob ? URL.createObjectURL(blob) : null))
      .catch(() => null);
    images.set(path, loaded);
  }
  return images.get(path);
}

// Shows the image at `path` (or nothing) in `holder`, an element holding one <img>.
export function showImage(holder, path, alt) {
  holder.hidden = !path;
  if (!path) {
    holder.replaceChildren();
    return;
  }
  if (holder.dataset.src === path) return;
  holder.dataset.src = path;
  imageUrl(path).then((url) => {
    if (holder.dataset.src !== path) return;
    if (!url) {
      holder.hidden = true;
      return;
    }
    const img = document.createElement("img");
    img.src = url;
    img.alt = alt;
    holder.replaceChildren(img);
  });
}
