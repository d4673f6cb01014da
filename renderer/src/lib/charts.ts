// ECharts, imported piece by piece so the bundle carries only the charts we draw.
import * as echarts from 'echarts/core'
import { BarChart, HeatmapChart, LineChart, RadarChart, ScatterChart } from 'echarts/charts'
import { GridComponent, LegendComponent, RadarComponent, TooltipComponent, VisualMapComponent, TitleComponent, MarkLineComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, HeatmapChart, LineChart, RadarChart, ScatterChart, GridComponent, LegendComponent, RadarComponent,
  TooltipComponent, VisualMapComponent, TitleComponent, MarkLineComponent, CanvasRenderer])

export { echarts }
export const PALETTE = ['#2563eb', '#e8590c', '#2f9e44', '#ae3ec9', '#0c8599', '#c2255c', '#5c940d', '#862e9c', '#1864ab', '#d9480f']
