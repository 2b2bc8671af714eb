// The shared workers' console, read over the browser's CDP connection (Playwright does not expose
// shared workers). Read only when the soak test fails: a debugger attached to a live shared worker
// changes its lifetime (tabs opened after a worker kill then wait for it in vain), while enabling
// the Runtime domain late still reports the messages the worker's inspector kept.

import type { Browser } from 'playwright-core';

interface TargetInfo { targetId: string; type: string; browserContextId?: string }
interface ConsoleCall { type: string; timestamp: number; args: { value?: unknown; description?: string }[] }

/** The last `keep` console lines of every live shared worker, headed by `labels[browserContextId]`. */
export async function workerLogs(browser: Browser, labels: Map<string, string>, keep = 80): Promise<string> {
  const cdp = await browser.newBrowserCDPSession();
  const lines = new Map<string, string[]>();
  cdp.on('Target.receivedMessageFromTarget', ({ sessionId, message }: { sessionId: string; message: string }) => {
    const m = JSON.parse(message) as { method?: string; params?: ConsoleCall };
    if (m.method !== 'Runtime.consoleAPICalled' || !m.params) return;
    const text = m.params.args.map((a) => (typeof a.value === 'string' ? a.value : a.description ?? JSON.stringify(a.value))).join(' ');
    lines.get(sessionId)?.push(`${new Date(m.params.timestamp).toISOString().slice(11, 23)} ${m.params.type} ${text}`);
  });
  try {
    const { targetInfos } = await cdp.send('Target.getTargets') as { targetInfos: TargetInfo[] };
    const heads = new Map<string, string>();
    for (const t of targetInfos.filter((x) => x.type === 'shared_worker')) {
      const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: t.targetId, flatten: false }) as { sessionId: string };
      heads.set(sessionId, labels.get(t.browserContextId ?? '') ?? `context ${t.browserContextId}`);
      lines.set(sessionId, []);
      await cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: 1, method: 'Runtime.enable' }) });
    }
    await new Promise((r) => setTimeout(r, 1000));
    return [...lines].map(([sessionId, buf]) => [`${heads.get(sessionId)}: ${buf.length} lines, the last ${Math.min(keep, buf.length)}:`, ...buf.slice(-keep)].join('\n    ')).join('\n  ');
  } catch (err) {
    return `could not read the workers' console: ${(err as Error).message}`;
  } finally {
    await cdp.detach().catch(() => {});
  }
}
