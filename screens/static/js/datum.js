// Positions between gridhub's datum and the basemap's. gridhub stores WGS-84 (CGCS2000 is within
// centimetres of it); 高德 tiles are drawn in GCJ-02, so what is drawn on them is shifted with gcoord, and a
// point picked on them is shifted back before it is searched. Without tiles (or with WGS-84 tiles) both
// directions are the identity.

import gcoord from "/static/vendor/gcoord-1.0.7.esm.min.js";

const SAME = {
  crs: "wgs84",
  toMap: (lat, lon) => [lat, lon],
  toWgs: (lat, lon) => [lat, lon],
  geojson: (geo) => geo,
};

/** {toMap(lat, lon) → [lat, lon], toWgs(lat, lon) → [lat, lon], geojson(fc) → fc} for tiles in `crs`. */
export function datum(crs) {
  if (crs !== "gcj02") return SAME;
  const shift = (lat, lon, from, to) => {
    const [x, y] = gcoord.transform([lon, lat], from, to);
    return [y, x];
  };
  return {
    crs,
    toMap: (lat, lon) => shift(lat, lon, gcoord.WGS84, gcoord.GCJ02),
    toWgs: (lat, lon) => shift(lat, lon, gcoord.GCJ02, gcoord.WGS84),
    geojson: (geo) => gcoord.transform(structuredClone(geo), gcoord.WGS84, gcoord.GCJ02),
  };
}
