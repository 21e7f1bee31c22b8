// The big screen's ECharts instances: one theme (the page's font, no grow-in animation), and two savings on
// the first picture, which is the costliest moment of a wall's day (every chart's code runs for the first time):
// - the first setOption draws without animation at all (no animators made); later updates move smoothly;
// - tooltips are set up when a pointer first enters the chart: a wall is watched, not pointed at.

// Chart text in the page's own font (already loaded for the page), not the canvas default "sans-serif",
// whose CJK fallback is looked up again on the first text of every chart.
// New elements appear at once (a new event's marker must not grow in); changes move smoothly.
echarts.registerTheme("gridhub", {
  animationDuration: 0,
  animationDurationUpdate: 400,
  textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
});

/** echarts.init(el) with the screen's theme; its setOption as described above. */
export function initChart(el) {
  const c = echarts.init(el, "gridhub", { renderer: "canvas" });
  const setOption = c.setOption.bind(c);
  let drawn = false;
  let pointed = false;
  let tooltip = null; // the latest tooltip option, kept until a pointer comes
  el.addEventListener(
    "pointerenter",
    () => {
      pointed = true;
      if (tooltip) setOption({ tooltip });
    },
    { once: true },
  );
  c.setOption = (option, opts) => {
    let rest = option;
    if (!pointed && option && option.tooltip) {
      ({ tooltip, ...rest } = option);
    }
    const result = setOption({ ...rest, animation: drawn }, opts);
    drawn = true;
    return result;
  };
  return c;
}
