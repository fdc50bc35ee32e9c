import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import {
  createRootRoute,
  createRoute,
  createRouter,
  Link,
  Outlet,
  RouterProvider,
} from '@tanstack/react-router';
import { lazy, StrictMode, Suspense, useCallback, useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { api, getToken, type Me, setToken, takeTokenFromFragment } from './api.ts';
import { type LiveEvent, startLive, useLiveEvents, useLiveStatus } from './live.ts';
import { Attention } from './pages/Attention.tsx';
import { Inbox } from './pages/Inbox.tsx';
import { Portfolio, type PortfolioSearch } from './pages/Portfolio.tsx';
import './styles.css';

// Pages a person opens less often load on demand; the portfolio and inbox are in the first bundle.
const Project = lazy(() => import('./pages/Project.tsx'));
const Gate = lazy(() => import('./pages/Gate.tsx'));
const Audit = lazy(() => import('./pages/Audit.tsx'));

import type { AuditSearch } from './pages/Audit.tsx';

const Value = lazy(() => import('./pages/Value.tsx'));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: { staleTime: 5_000, retry: (n, e) => n < 2 && (e as { status?: number }).status !== 401 },
  },
});

/** New events refresh the views they touch, at most twice a second. */
function useInvalidateOnEvents() {
  const pending = useRef<Set<string>>(new Set());
  const timer = useRef<number | null>(null);
  const onEvents = useCallback((events: LiveEvent[]) => {
    for (const e of events) pending.current.add(e.project_id);
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      const projects = [...pending.current];
      pending.current.clear();
      // The value report is not refreshed here: it reads every event and refreshes itself each minute.
      for (const key of ['portfolio', 'attention', 'events'])
        void queryClient.invalidateQueries({ queryKey: [key] });
      for (const p of projects) void queryClient.invalidateQueries({ queryKey: ['project', p] });
    }, 500);
  }, []);
  useLiveEvents(onEvents);
}

function Login({ onDone }: { onDone: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <main className="login">
      <h1>Value Train</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setToken(value.trim());
          try {
            await api('/api/me');
            onDone();
          } catch (err) {
            setToken(null);
            setError((err as Error).message);
          }
        }}
      >
        <label htmlFor="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
        <p className="hint">
          Make one with <code>vt token create --person NAME --grant viewer</code>.
        </p>
        {error && (
          <p role="alert" className="error">
            ✗ {error}
          </p>
        )}
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

function LiveDot() {
  const s = useLiveStatus();
  const words = { live: '● live', connecting: '○ connecting', offline: '✗ offline, retrying' } as const;
  return (
    <span className={`live live-${s}`} role="status" aria-live="polite">
      {words[s]}
    </span>
  );
}

function Layout() {
  const [authed, setAuthed] = useState(!!getToken());
  useEffect(() => {
    const out = () => {
      setToken(null);
      setAuthed(false);
    };
    window.addEventListener('vt-unauthenticated', out);
    return () => window.removeEventListener('vt-unauthenticated', out);
  }, []);
  useEffect(() => {
    if (authed) startLive();
  }, [authed]);
  useInvalidateOnEvents();
  const me = useQuery({ queryKey: ['me'], queryFn: () => api<Me>('/api/me'), enabled: authed });
  if (!authed) return <Login onDone={() => setAuthed(true)} />;
  return (
    <>
      <header className="top">
        <a className="skip" href="#main">
          Skip to content
        </a>
        <span className="brand">Value Train</span>
        <nav aria-label="Pages">
          <Link to="/" activeOptions={{ exact: true, includeSearch: false }}>
            Portfolio
          </Link>
          <Link to="/attention">Attention</Link>
          <Link to="/inbox">Inbox</Link>
          <Link to="/audit">Audit</Link>
          <Link to="/value">Value</Link>
        </nav>
        <LiveDot />
        <span className="who">{me.data ? `${me.data.person}` : ''}</span>
        <button
          type="button"
          className="link"
          onClick={() => {
            setToken(null);
            setAuthed(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <Outlet />
        </Suspense>
      </main>
    </>
  );
}

const rootRoute = createRootRoute({ component: Layout });
const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

const portfolioRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/',
  validateSearch: (s: Record<string, unknown>): PortfolioSearch => ({
    zoom: s.zoom === 'heatmap' || s.zoom === 'matrix' ? s.zoom : undefined,
    team: typeof s.team === 'string' ? s.team : undefined,
    priority: str(s.priority),
    status: str(s.status),
  }),
  component: () => <Portfolio search={portfolioRoute.useSearch()} />,
});
const attentionRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/attention',
  validateSearch: (s: Record<string, unknown>): { kind?: string | undefined } => ({ kind: str(s.kind) }),
  component: () => <Attention kind={attentionRoute.useSearch().kind} />,
});
const inboxRoute = createRoute({ getParentRoute: () => rootRoute, path: '/inbox', component: Inbox });
const projectRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/projects/$id',
  component: () => <Project id={projectRoute.useParams().id} />,
});
const gateRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/projects/$id/gates/$phase',
  component: () => {
    const p = gateRoute.useParams();
    return <Gate id={p.id} phase={p.phase} />;
  },
});
const auditRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/audit',
  validateSearch: (s: Record<string, unknown>): AuditSearch => ({
    project: str(s.project),
    type: str(s.type),
    actor: str(s.actor),
    event: str(s.event),
  }),
  component: () => <Audit search={auditRoute.useSearch()} />,
});
const valueRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/value',
  validateSearch: (
    s: Record<string, unknown>,
  ): { project?: string | undefined; team?: string | undefined } => ({
    project: str(s.project),
    team: str(s.team),
  }),
  component: () => <Value search={valueRoute.useSearch()} />,
});

const router = createRouter({
  routeTree: rootRoute.addChildren([
    portfolioRoute,
    attentionRoute,
    inboxRoute,
    projectRoute,
    gateRoute,
    auditRoute,
    valueRoute,
  ]),
  defaultPreload: false,
});

declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router;
  }
}

takeTokenFromFragment();
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
