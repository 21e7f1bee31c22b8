// The big screen's palette and its rem (1/54 of the screen height), shared by the tiles and the maps.

export const C = { accent: "#35c2ff", yellow: "#ffc53d", red: "#ff4d4f", green: "#52e08a", muted: "#7fa3d6", text: "#d8e8ff", camera: "#b37feb" };
export const rem = () => parseFloat(getComputedStyle(document.documentElement).fontSize);
