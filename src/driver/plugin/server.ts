// Docker's graph-driver plugin protocol over HTTP/1.1 (spec/driver.md §10): one POST
// route per driver operation, JSON in and out except Diff (a tar body streamed out) and
// ApplyDiff (a chunked tar body streamed into the driver). Requests are served
// concurrently: dockerd keeps Diff open while it feeds the same bytes to ApplyDiff.

import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LcowError } from '../../host/errors.js';
import type { Log } from '../../host/log.js';
import type { GraphDriver } from '../types.js';
import {
  MAX_JSON_BODY_BYTES,
  PLUGIN_MEDIA_TYPE,
  badRequest,
  encodeError,
  encodeResponse,
  parseApplyDiffQuery,
  parseCreateRequest,
  parseIdRequest,
  parseInitRequest,
  parseJsonObject,
  parseLayerPairRequest,
} from './wire.js';

export interface PluginServerOptions {
  /** The driver's data root (`lcow plugin --root`); GraphDriver.Init's Home is only logged. */
  root: string;
  /** Opens the driver on GraphDriver.Init with the daemon's --storage-opt list. */
  openDriver(root: string, options: string[]): Promise<GraphDriver>;
  log: Log;
}

/** What one request did, for its log line. */
interface Exchange {
  readonly endpoint: string;
  readonly request: http.IncomingMessage;
  readonly response: http.ServerResponse;
  id?: string;
  error?: string;
}

type Route = (exchange: Exchange) => Promise<void>;

/** HTTP status of each refusal; anything the driver throws is a 500. */
const STATUS_OF_CODE: Record<string, number> = {
  PLUGIN_BAD_REQUEST: 400,
  PLUGIN_UNKNOWN_ENDPOINT: 404,
  PLUGIN_METHOD_NOT_ALLOWED: 405,
  PLUGIN_NOT_INITIALISED: 409,
  PLUGIN_BODY_TOO_LARGE: 413,
  PLUGIN_SHUTTING_DOWN: 503,
};

/** How long an idle keep-alive connection from the daemon stays open. */
const IDLE_CONNECTION_TIMEOUT_MS = 10 * 60_000;

/** How long shutdown waits for requests in flight (a Diff or ApplyDiff of a large layer) before cutting them. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 60_000;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function statusOf(err: unknown): number {
  return err instanceof LcowError ? STATUS_OF_CODE[err.code] ?? 500 : 500;
}

/** Reads a small JSON body whole; past MAX_JSON_BODY_BYTES it stops reading and refuses. */
function readJsonBody(exchange: Exchange): Promise<Buffer> {
  const { request, endpoint } = exchange;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= MAX_JSON_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      request.pause();
      // The rest of the body stays unread, so the connection cannot be reused.
      exchange.response.setHeader('Connection', 'close');
      reject(new LcowError('PLUGIN_BODY_TOO_LARGE', `${endpoint}: the JSON body is over ${MAX_JSON_BODY_BYTES} bytes`));
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', (err) => reject(badRequest(endpoint, `reading the body failed: ${err.message}`)));
  });
}

async function readJsonObject(exchange: Exchange): Promise<Record<string, unknown>> {
  return parseJsonObject(exchange.endpoint, await readJsonBody(exchange));
}

export class PluginServer {
  readonly http: http.Server;
  private readonly options: PluginServerOptions;
  private readonly routes: Record<string, Route>;
  private driver?: GraphDriver;
  private inFlight = 0;
  private closing = false;
  private drained?: () => void;
  private shutdownDone?: Promise<void>;

  constructor(options: PluginServerOptions) {
    this.options = options;
    this.routes = this.buildRoutes();
    this.http = http.createServer((request, response) => void this.serve(request, response));
    // Node's default 5-minute limit on receiving a whole request would cut an ApplyDiff
    // of a large layer; the daemon holds the connection for as long as the layer takes.
    this.http.requestTimeout = 0;
    // The daemon's plugin client never closes idle connections and does not retry an
    // ApplyDiff (its body cannot be rewound): if we closed an idle connection just as it
    // sent one, the import would fail. Node's 5 s default made that race frequent.
    this.http.keepAliveTimeout = IDLE_CONNECTION_TIMEOUT_MS;
  }

  /** Requests being served right now. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  private buildRoutes(): Record<string, Route> {
    const json = (exchange: Exchange, fields: Record<string, unknown>) => this.sendJson(exchange, 200, encodeResponse(fields));
    return {
      'Plugin.Activate': async (x) => {
        await readJsonBody(x);
        json(x, { Implements: ['GraphDriver'] });
      },
      'GraphDriver.Init': async (x) => {
        const init = parseInitRequest(x.endpoint, await readJsonObject(x));
        // A restarted daemon initialises again: release the previous driver's views first.
        const previous = this.driver;
        this.driver = undefined;
        if (previous) await previous.cleanup();
        this.driver = await this.options.openDriver(this.options.root, init.options);
        this.options.log.info({ home: init.home, root: this.options.root, options: init.options }, 'driver initialised');
        json(x, {});
      },
      'GraphDriver.Capabilities': async (x) => {
        await readJsonBody(x);
        // Layers are rebuilt from ext4 images, so their tars are not the daemon's originals.
        json(x, { Capabilities: { ReproducesExactDiffs: false } });
      },
      'GraphDriver.Create': async (x) => {
        const create = parseCreateRequest(x.endpoint, await readJsonObject(x));
        x.id = create.id;
        await this.driverFor(x).create(create.id, create.parent, { storageOpt: create.storageOpt, mountLabel: create.mountLabel });
        json(x, {});
      },
      'GraphDriver.CreateReadWrite': async (x) => {
        const create = parseCreateRequest(x.endpoint, await readJsonObject(x));
        x.id = create.id;
        await this.driverFor(x).createReadWrite(create.id, create.parent, { storageOpt: create.storageOpt, mountLabel: create.mountLabel });
        json(x, {});
      },
      'GraphDriver.Remove': async (x) => {
        const { id } = parseIdRequest(x.endpoint, await readJsonObject(x));
        x.id = id;
        await this.driverFor(x).remove(id);
        json(x, {});
      },
      'GraphDriver.Get': async (x) => {
        const get = parseCreateRequest(x.endpoint, await readJsonObject(x));
        x.id = get.id;
        json(x, { Dir: await this.driverFor(x).get(get.id, get.mountLabel) });
      },
      'GraphDriver.Put': async (x) => {
        const { id } = parseIdRequest(x.endpoint, await readJsonObject(x));
        x.id = id;
        await this.driverFor(x).put(id);
        json(x, {});
      },
      'GraphDriver.Exists': async (x) => {
        const { id } = parseIdRequest(x.endpoint, await readJsonObject(x));
        x.id = id;
        json(x, { Exists: await this.driverFor(x).exists(id) });
      },
      'GraphDriver.Status': async (x) => {
        await readJsonBody(x);
        json(x, { Status: await this.driverFor(x).status() });
      },
      'GraphDriver.GetMetadata': async (x) => {
        const { id } = parseIdRequest(x.endpoint, await readJsonObject(x));
        x.id = id;
        json(x, { Metadata: await this.driverFor(x).getMetadata(id) });
      },
      'GraphDriver.Cleanup': async (x) => {
        await readJsonBody(x);
        // Before Init nothing is held, so there is nothing to clean.
        if (this.driver) await this.driver.cleanup();
        json(x, {});
      },
      'GraphDriver.Diff': (x) => this.diff(x),
      'GraphDriver.Changes': async (x) => {
        const pair = parseLayerPairRequest(x.endpoint, await readJsonObject(x));
        x.id = pair.id;
        const changes = await this.driverFor(x).changes(pair.id, pair.parent);
        json(x, { Changes: changes.map((change) => ({ Path: change.path, Kind: change.kind })) });
      },
      'GraphDriver.ApplyDiff': (x) => this.applyDiff(x),
      'GraphDriver.DiffSize': async (x) => {
        const pair = parseLayerPairRequest(x.endpoint, await readJsonObject(x));
        x.id = pair.id;
        json(x, { Size: await this.driverFor(x).diffSize(pair.id, pair.parent) });
      },
    };
  }

  private driverFor(exchange: Exchange): GraphDriver {
    if (!this.driver) {
      throw new LcowError('PLUGIN_NOT_INITIALISED', `${exchange.endpoint}: the driver is not initialised: call GraphDriver.Init first`);
    }
    return this.driver;
  }

  /**
   * The layer's tar as the response body. The first chunk is awaited before the status
   * line goes out, so a failure to open the layer is still a proper {"Err"} response; a
   * failure later can only cut the connection, which the daemon sees as a broken stream.
   */
  private async diff(exchange: Exchange): Promise<void> {
    const pair = parseLayerPairRequest(exchange.endpoint, await readJsonObject(exchange));
    exchange.id = pair.id;
    const tar = await this.driverFor(exchange).diff(pair.id, pair.parent);
    const chunks = tar[Symbol.asyncIterator]();
    let first: IteratorResult<Buffer>;
    try {
      first = await chunks.next();
    } catch (err) {
      tar.destroy();
      throw err;
    }
    async function* body(): AsyncGenerator<Buffer> {
      if (first.done) return;
      yield first.value;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    }
    const { response } = exchange;
    response.writeHead(200, { 'Content-Type': 'application/x-tar', ...this.closeHeader() });
    try {
      await pipeline(Readable.from(body()), response);
    } finally {
      tar.destroy();
    }
  }

  /** The request body is the layer tar, handed to the driver as it arrives (never buffered whole). */
  private async applyDiff(exchange: Exchange): Promise<void> {
    const query = exchange.request.url?.split('?').slice(1).join('?') ?? '';
    const pair = parseApplyDiffQuery(exchange.endpoint, query);
    exchange.id = pair.id;
    const size = await this.driverFor(exchange).applyDiff(pair.id, pair.parent, exchange.request);
    this.sendJson(exchange, 200, encodeResponse({ Size: size }));
  }

  /** While shutting down, every response closes its connection so the server can stop. */
  private closeHeader(): Record<string, string> {
    return this.closing ? { Connection: 'close' } : {};
  }

  private sendJson(exchange: Exchange, status: number, body: string): void {
    const { response } = exchange;
    response.writeHead(status, { 'Content-Type': PLUGIN_MEDIA_TYPE, 'Content-Length': Buffer.byteLength(body), ...this.closeHeader() });
    response.end(body);
  }

  private async serve(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const endpoint = (request.url ?? '/').split('?')[0].replace(/^\/+/, '');
    const exchange: Exchange = { endpoint, request, response };
    this.inFlight += 1;
    const closed = new Promise<void>((resolve) => response.once('close', resolve));
    try {
      if (this.closing) throw new LcowError('PLUGIN_SHUTTING_DOWN', `${endpoint}: the lcow plugin is shutting down`);
      if (request.method !== 'POST') {
        throw new LcowError('PLUGIN_METHOD_NOT_ALLOWED', `${request.method} /${endpoint}: the plugin protocol uses POST only`);
      }
      const route = Object.hasOwn(this.routes, endpoint) ? this.routes[endpoint] : undefined;
      if (!route) {
        throw new LcowError('PLUGIN_UNKNOWN_ENDPOINT', `unknown endpoint /${endpoint}: lcow serves Plugin.Activate and the GraphDriver.* methods`);
      }
      await route(exchange);
    } catch (err) {
      exchange.error = messageOf(err);
      // A body left unread (an ApplyDiff refused early) is not drained: the connection closes instead.
      if (!request.complete) response.setHeader('Connection', 'close');
      if (response.headersSent) response.destroy();
      else if (!response.destroyed) this.sendJson(exchange, statusOf(err), encodeError(exchange.error));
    }
    await closed;
    this.finished(exchange, started);
  }

  /** One log line per request, once its route has settled and its response is complete or its connection gone. */
  private finished(exchange: Exchange, started: number): void {
    const { response } = exchange;
    const fields = {
      method: exchange.endpoint,
      ...(exchange.id === undefined ? {} : { id: exchange.id }),
      status: response.statusCode,
      ms: Math.round((performance.now() - started) * 10) / 10,
      ...(response.writableFinished ? {} : { aborted: true }),
      ...(exchange.error === undefined ? {} : { err: exchange.error }),
    };
    if (exchange.error === undefined && response.writableFinished) this.options.log.info(fields, 'request');
    else this.options.log.warn(fields, 'request failed');
    this.inFlight -= 1;
    if (this.closing) {
      // The connection just became idle: let server.close() finish.
      setImmediate(() => this.http.closeIdleConnections());
      if (this.inFlight === 0) this.drained?.();
    }
  }

  /**
   * Stops accepting connections, lets requests in flight finish (cut after `graceMs`),
   * then releases every view the driver holds. Safe to call more than once.
   */
  shutdown(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    this.shutdownDone ??= this.stop(graceMs);
    return this.shutdownDone;
  }

  private async stop(graceMs: number): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<boolean>((resolve) => {
        this.drained = () => resolve(true);
      });
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      });
      const finished = await Promise.race([drained, expired]);
      clearTimeout(timer);
      if (!finished) {
        this.options.log.warn({ requests: this.inFlight, graceMs }, 'requests still running at shutdown: cutting them');
        this.http.closeAllConnections();
      }
    }
    await closed;
    const driver = this.driver;
    this.driver = undefined;
    if (driver) await driver.cleanup();
  }
}
