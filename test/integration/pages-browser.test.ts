import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/cli/service.ts';
import { loadConfig } from '../../src/config/index.ts';
import {
  DEMO_KEYS,
  emitCall,
  emitDemoHistory,
  formatDemoConfig,
  startGatewayTelemetry,
  type GatewayTelemetry,
  zoneWithLocalHour,
  type TrafficKey,
} from '../../src/demo/index.ts';
import { createRandom } from '../../src/forecast/index.ts';
import { makeDataDir } from '../support/service.ts';

/** Where the screenshots of every page go (gitignored). */
export const SCREENSHOT_DIR = new URL('../../.tmp/pages-screenshots/', import.meta.url).pathname;

const POOL = 'demo';
const TEAM_B = DEMO_KEYS[1] as TrafficKey;

describe('status pages in a real browser after the demo traffic', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let service: Service;
  let gateway: GatewayTelemetry;
  let browser: BrowserContext;
  let page: Page;
  const random = createRandom(7);

  beforeAll(async () => {
    data = await makeDataDir('headroom-pages-');
    const nowMs = Date.now();
    const timeZone = zoneWithLocalHour(nowMs, 15);
    const configFile = join(data.dir, 'headroom.yaml');
    await writeFile(configFile, formatDemoConfig(timeZone));
    const config = loadConfig({
      env: {
        HEADROOM_LOG_LEVEL: 'silent',
        HEADROOM_CONFIG: configFile,
        HEADROOM_DATA_DIR: join(data.dir, 'data'),
        HEADROOM_PORT: '0',
      },
    });
    service = await startService(config, { scheduleAnalytics: false });

    gateway = startGatewayTelemetry(service.url);
    const { tracer } = gateway;
    emitDemoHistory(tracer, nowMs, random);
    // team-b surges, as in the demo.
    for (let i = 0; i < 300; i++) emitCall(tracer, POOL, TEAM_B, nowMs - 60_000 + i * 150, random);
    await gateway.flush();
    const run = await service.analytics?.runCycle();
    expect(run?.outcome).toBe('success');

    await mkdir(SCREENSHOT_DIR, { recursive: true });
    // A fresh profile in the suite's own directory; the system chromium, never a downloaded browser.
    browser = await chromium.launchPersistentContext(join(data.dir, 'chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      viewport: { width: 1100, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-quic',
        '--no-first-run',
        '--disable-sync',
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.shutdown();
    await service?.close();
    await data?.remove();
  });

  it('lists the pool on the overview with the key about to run out first and in red', async () => {
    await page.goto(`${service.url}/`);
    await expect(page.locator('section.pool h2').first().textContent()).resolves.toContain(POOL);
    const first = page.locator('table.at-risk tbody tr').first();
    await expect(first.locator('th').textContent()).resolves.toBe('team-b');
    await expect(first.getAttribute('class')).resolves.toContain('risk-critical');
    // Run in the browser; this project compiles without the DOM types, hence the casts.
    const color = await first
      .locator('th a')
      .evaluate(
        (a: unknown) =>
          (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(a)
            .color,
      );
    const [r, g, b] = (color.match(/\d+/g) ?? []).map(Number) as [number, number, number];
    expect(r).toBeGreaterThan(150);
    expect(g).toBeLessThan(110);
    expect(b).toBeLessThan(110);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'overview.png'), fullPage: true });
  });

  it('sorts the pool table from the keyboard', async () => {
    await page.goto(`${service.url}/pools/${POOL}`);
    const rows = page.locator('table.keys tbody tr');
    await expect(rows.first().getAttribute('data-key')).resolves.toBe('team-b');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'pool.png'), fullPage: true });
    const keyHeading = page.locator('table.keys thead th').first();
    await keyHeading.locator('button').focus();
    await page.keyboard.press('Enter');
    await expect(keyHeading.getAttribute('aria-sort')).resolves.toBe('descending');
    await page.keyboard.press('Enter');
    await expect(keyHeading.getAttribute('aria-sort')).resolves.toBe('ascending');
    const order = await rows.evaluateAll((trs: Array<{ getAttribute(name: string): string | null }>) =>
      trs.map((tr) => tr.getAttribute('data-key')),
    );
    expect(order).toEqual(['batch', 'spare', 'team-a', 'team-b']);
  });

  it("shows the key's forecast fan ending before the reset line, with its text equivalent", async () => {
    await page.goto(`${service.url}/`);
    await page.locator('table.at-risk tbody tr').first().locator('a').click();
    await page.waitForURL(/\/pools\/demo\/keys\/team-b$/);
    const chart = page.locator('svg.usage-chart').first();
    await expect(chart.getAttribute('aria-labelledby')).resolves.toBeTruthy();
    const fan = await chart.locator('polygon.fan').boundingBox();
    const reset = await chart.locator('line.reset').boundingBox();
    expect(fan).not.toBeNull();
    expect(reset).not.toBeNull();
    expect((fan?.x ?? 0) + (fan?.width ?? 0)).toBeLessThan(reset?.x ?? 0);
    await expect(page.locator('figure figcaption').first().textContent()).resolves.toMatch(
      /chance to run out before the reset.*Most likely runs out at/,
    );
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'key.png'), fullPage: true });
    // The top of the page (the chart) alone, as the README shows it.
    await page.screenshot({
      path: join(SCREENSHOT_DIR, 'key-chart.png'),
      clip: { x: 0, y: 0, width: 1100, height: 700 },
    });
  });

  it('shows the alert on the alerts page', async () => {
    await page.goto(`${service.url}/alerts`);
    const active = page.locator('table.alerts tbody tr');
    await expect(active.filter({ hasText: 'team-b' }).count()).resolves.toBeGreaterThan(0);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'alerts.png'), fullPage: true });
  });

  it('fits a phone and follows a dark colour scheme', async () => {
    const phone = await browser.newPage();
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.emulateMedia({ colorScheme: 'dark' });
      await phone.goto(`${service.url}/pools/${POOL}`);
      // The key table scrolls inside its own box; the page itself never scrolls sideways.
      const widths = await phone.evaluate<{ page: number; view: number }>(
        '({ page: document.documentElement.scrollWidth, view: window.innerWidth })',
      );
      expect(widths.page).toBeLessThanOrEqual(widths.view);
      const background = await phone.evaluate<string>('getComputedStyle(document.body).backgroundColor');
      const [r, g, b] = (background.match(/\d+/g) ?? []).map(Number) as [number, number, number];
      expect(r + g + b).toBeLessThan(150);
      await phone.screenshot({ path: join(SCREENSHOT_DIR, 'pool-phone-dark.png'), fullPage: true });
    } finally {
      await phone.close();
    }
  });

  it('updates a page after the next cycle without a reload', async () => {
    await page.goto(`${service.url}/pools/${POOL}/keys/team-b`);
    const before = await page.locator('main').getAttribute('data-evaluated-at');
    const used = await page.locator('dl.facts dd').first().textContent();
    await page.evaluate('window.notReloaded = true');
    const { tracer } = gateway;
    const at = Date.now();
    for (let i = 0; i < 50; i++) emitCall(tracer, POOL, TEAM_B, at - 5_000 + i * 10, random);
    await gateway.flush();
    await service.analytics?.runCycle(Date.now() + 1_000);
    await page.waitForFunction(
      `document.querySelector('main').getAttribute('data-evaluated-at') !== ${JSON.stringify(before)}`,
      undefined,
      { timeout: 20_000 },
    );
    await expect(page.evaluate<boolean>('window.notReloaded === true')).resolves.toBe(true);
    await expect(page.locator('dl.facts dd').first().textContent()).resolves.not.toBe(used);
  });
});
