import { BarChart, BoxplotChart, HeatmapChart, LineChart } from 'echarts/charts';
import {
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TooltipComponent,
  VisualMapComponent,
} from 'echarts/components';
import { init, use } from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import { useEffect, useRef } from 'react';

use([
  LineChart,
  BarChart,
  BoxplotChart,
  HeatmapChart,
  GridComponent,
  TooltipComponent,
  LegendComponent,
  MarkLineComponent,
  VisualMapComponent,
  SVGRenderer,
]);

/** The ECharts half of <Chart>, in its own chunk. */
export default function EChart({
  option,
  height,
  label,
}: {
  option: Record<string, unknown>;
  height: number;
  label: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const chart = init(el.current!, undefined, { renderer: 'svg' });
    chart.setOption({ animation: false, tooltip: { trigger: 'axis' }, ...option });
    const resize = () => chart.resize();
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      chart.dispose();
    };
  }, [option]);
  return (
    <div
      ref={el}
      style={{ height }}
      role="img"
      aria-label={`${label} (chart; view as table for the values)`}
    />
  );
}
