/**
 * Loading the NATS client. `@nats-io/transport-node`, `@nats-io/jetstream` and `@nats-io/kv` are
 * optional peer dependencies: they are imported (dynamically) only when a JetStream journal or
 * a KV hints store is opened, so users of the file journal neither install nor load them.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { NatsClientMissingError } from './jetstream-errors.js';

type TransportModule = typeof import('@nats-io/transport-node');
type JetStreamModule = typeof import('@nats-io/jetstream');
type KvModule = typeof import('@nats-io/kv');

export interface NatsModules {
  readonly transport: TransportModule;
  readonly jetstream: JetStreamModule;
  readonly kv: KvModule;
}

let loading: Promise<NatsModules> | undefined;

/** The NATS client modules (NatsClientMissingError when they are not installed). */
export function loadNats(): Promise<NatsModules> {
  loading ??= (async () => {
    try {
      const [transport, jetstream, kv] = await Promise.all([
        import('@nats-io/transport-node'),
        import('@nats-io/jetstream'),
        import('@nats-io/kv'),
      ]);
      return { transport, jetstream, kv };
    } catch (error) {
      loading = undefined;
      throw new NatsClientMissingError(error);
    }
  })();
  return loading;
}

/** How to reach NATS: an open connection (kept open by us), or server URLs (we connect and close). */
export interface NatsConnectOptions {
  /** An established connection; the caller keeps ownership (closing the journal leaves it open). */
  connection?: NatsConnection;
  /** Server URLs, e.g. `nats://127.0.0.1:4222` (several: any reachable one is used). */
  servers?: string | string[];
  /** Timeout of each JetStream request in ms (default 5000). */
  requestTimeoutMs?: number;
}

export interface NatsSession {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly modules: NatsModules;
  /** Closes the connection if this session opened it. */
  close(): Promise<void>;
}

/** Opens (or adopts) a connection and its JetStream contexts. */
export async function openNatsSession(options: NatsConnectOptions): Promise<NatsSession> {
  const modules = await loadNats();
  const timeout = options.requestTimeoutMs ?? 5000;
  let nc = options.connection;
  const owned = nc === undefined;
  if (nc === undefined) {
    if (options.servers === undefined) {
      throw new TypeError('JetStream: give either `connection` or `servers`');
    }
    nc = await modules.transport.connect({
      servers: options.servers,
      name: 'recoverylog',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout,
    });
  }
  const connection = nc;
  const js = modules.jetstream.jetstream(connection, { timeout });
  // jetstreamManager() asks for the account info, which fails while no meta leader is elected;
  // the manager built from the client does not, and requests retry themselves (see callers).
  const jsm = await js.jetstreamManager(false);
  return {
    nc: connection,
    js,
    jsm,
    modules,
    close: async () => {
      if (owned && !connection.isClosed()) await connection.close();
    },
  };
}
