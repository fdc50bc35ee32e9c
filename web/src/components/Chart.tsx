import { lazy, Suspense, useState } from 'react';

/** A chart's data as a table too: columns and rows of plain values. */
export interface ChartData {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
  /** ECharts option; built by the page from the same rows. */
  option: Record<string, unknown>;
}

const EChart = lazy(() => import('./EChart.tsx'));

/** A chart with "view as table": ECharts loads only when a page shows a chart. */
export function Chart({ data, height = 260 }: { data: ChartData; height?: number }) {
  const [asTable, setAsTable] = useState(false);
  const id = data.title.replace(/\W+/g, '-').toLowerCase();
  return (
    <figure className="chart" aria-labelledby={`${id}-cap`}>
      <figcaption id={`${id}-cap`}>
        {data.title}{' '}
        <button type="button" className="link" aria-pressed={asTable} onClick={() => setAsTable((v) => !v)}>
          {asTable ? 'view as chart' : 'view as table'}
        </button>
      </figcaption>
      {asTable ? (
        <div className="scroll-x">
          <table>
            <thead>
              <tr>
                {data.columns.map((c) => (
                  <th scope="col" key={c}>
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.rows.map((r) => (
                <tr key={JSON.stringify(r)}>
                  {r.map((v, j) => (
                    <td key={data.columns[j]}>{v ?? '–'}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <Suspense
          fallback={
            <div style={{ height }} className="muted">
              Loading chart…
            </div>
          }
        >
          <EChart option={data.option} height={height} label={data.title} />
        </Suspense>
      )}
    </figure>
  );
}
