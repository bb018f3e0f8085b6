// Types of cluster.mjs (a plain Node module, so that it runs before dependencies are installed).
export interface ClusterNode {
  readonly name: string;
  readonly port: number;
  readonly pid: number | undefined;
}

export interface ClusterHandle {
  readonly dir: string;
  readonly sync: 'always' | 'default';
  readonly nodes: ClusterNode[];
  readonly urls: string[];
  signal(name: string, signal: NodeJS.Signals): void;
  restart(name: string, timeoutMs?: number): Promise<void>;
  streamLeader(stream: string): Promise<string | undefined>;
  streamCurrent(stream: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  dir: string;
  nodes?: number;
  sync?: 'always' | 'default';
  binary?: string;
  timeoutMs?: number;
}

export function installNatsServer(): string;
export function startCluster(options: StartClusterOptions): Promise<ClusterHandle>;
export function stopCluster(dir: string): Promise<void>;
