// The ECharts build the screens load (screens/static/vendor/echarts-screens-5.6.0.min.js, made by
// screens/vendor.sh with esbuild): the core with only the charts and components the screens draw; well under
// the full dist build, so the big screen's first paint waits less.
// Add a chart or component here (and rebuild) before a tile uses it.
import * as echarts from "echarts/core";
import {
  BarChart,
  CustomChart,
  EffectScatterChart,
  GaugeChart,
  HeatmapChart,
  LineChart,
  MapChart,
  PieChart,
  ScatterChart,
} from "echarts/charts";
import {
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  CustomChart, // the map's search circle (周边搜索)
  EffectScatterChart,
  GaugeChart,
  HeatmapChart,
  LineChart,
  MapChart,
  PieChart,
  ScatterChart,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);
window.echarts = echarts;
