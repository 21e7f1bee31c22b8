// 运行概览大屏, first requests: a classic script that runs before the chart library is parsed and
// executed (about half a second on a small machine), so the data the first picture needs is already on
// its way when overview.js starts. overview.js takes these responses through api() (gridhub.js), which
// uses a prefetched GET once, when its URL is exactly the one asked for here.
(() => {
  // the screen whose layout the page shows (?screen=NAME; every wall's default: overview), for overview.js too
  const screen = new URLSearchParams(location.search).get("screen");
  window.gridhubScreen = /^[a-z0-9_-]{1,32}$/.test(screen || "") ? screen : "overview";
  const token = localStorage.getItem("gridhub.token");
  if (!token) return; // overview.js sends the visitor to the login page
  const CHILD_LEVEL = { county: "town", town: "village", village: "grid", grid: "grid" };
  const headers = { Authorization: `Bearer ${token}` };
  const prefetched = (window.gridhubPrefetch = new Map());
  const get = (path) => {
    const started = fetch(path, { headers });
    started.catch(() => {}); // a failure is api()'s to report, when it takes the response
    prefetched.set(path, started);
    return started;
  };
  const jurisdiction = new URLSearchParams(location.search).get("jurisdiction");
  const me = get("/api/v1/auth/me");
  get(jurisdiction ? `/api/v1/screens/overview?jurisdiction=${encodeURIComponent(jurisdiction)}` : "/api/v1/screens/overview");
  get(`/api/v1/screens/${window.gridhubScreen}/layout`);
  get("/api/v1/cameras?page_size=5000");
  get("/api/v1/screens/map-config");
  if (!jurisdiction) {
    // the map of the user's own jurisdiction: its children's boundaries
    me.then((r) => (r.ok ? r.clone().json() : null))
      .then((user) => user && get(`/api/v1/jurisdictions.geojson?level=${CHILD_LEVEL[user.jurisdiction_level] || "town"}`))
      .catch(() => {});
  }
})();
