// The replicas of every shard and how one call reaches a shard: round robin over its replicas,
// an UNAVAILABLE replica passed over for a while (the call moves to the next one at once), a
// jittered backoff after every replica failed, all within the caller's deadline. A call sent to
// several shards must be answered from ONE version of the model.
import { status } from '@grpc/grpc-js';
import { isServiceError } from '@embpress/service-kit';
import type { ShardMap } from './shard-map';
import { shardFailure, ShardedStoreError } from './sharded-errors';
import type { ShardedStoreClientOptions } from './sharded-types';
import { backoffMs, StoreClient, type RetryPolicy } from './store-client';

class Replica {
  /** Until then the replica is tried only when every other one is down too. */
  downUntil = 0;
  constructor(
    readonly address: string,
    readonly client: StoreClient,
  ) {}
}

class Shard {
  private next = 0;
  constructor(
    readonly name: string,
    readonly replicas: readonly Replica[],
  ) {}

  /** The replicas in the order to try them: round robin, the ones known to be down last. */
  order(now: number): Replica[] {
    const start = this.next;
    this.next = (this.next + 1) % this.replicas.length;
    const rotated = this.replicas.map(
      (_, i) => this.replicas[(start + i) % this.replicas.length] as Replica,
    );
    return [
      ...rotated.filter((r) => r.downUntil <= now),
      ...rotated.filter((r) => r.downUntil > now),
    ];
  }
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 25, maxDelayMs: 500 };
const NO_RETRY: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A StoreClient per replica address of every shard of a map, and the calls that use them. */
export class ShardReplicas {
  private readonly shards = new Map<string, Shard>();
  private readonly retry: RetryPolicy;
  private readonly cooldownMs: number;

  constructor(map: ShardMap, options: ShardedStoreClientOptions) {
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.cooldownMs = options.replicaCooldownMs ?? 1000;
    for (const shard of map.shards) {
      const replicas = shard.addresses.map(
        (address) =>
          // Each replica tried once per attempt: moving on to another replica is this class's job.
          new Replica(
            address,
            new StoreClient(
              { address, tls: options.tls, timeoutMs: options.timeoutMs, streams: options.streams },
              NO_RETRY,
            ),
          ),
      );
      this.shards.set(shard.name, new Shard(shard.name, replicas));
    }
  }

  /** The names of the shards, in shard map order. */
  names(): string[] {
    return [...this.shards.keys()];
  }

  close(): void {
    for (const shard of this.shards.values())
      for (const replica of shard.replicas) replica.client.close();
  }

  /**
   * The same call to several shards in parallel, all answering from ONE version of the model.
   * When they differ (an activation rolling over the shards) the calls are sent once more; if
   * they still differ, ABORTED: rows of different versions are never mixed.
   */
  async oneVersionFromEvery<Res extends { version: string }>(
    model: string,
    shards: readonly string[],
    deadline: number,
    call: (shard: string, client: StoreClient) => Promise<Res>,
  ): Promise<Array<{ shard: string; address: string; response: Res }>> {
    for (let round = 1; ; round += 1) {
      const answers = await Promise.all(
        shards.map(async (shard) => {
          const { response, address } = await this.callShard(
            shard,
            (client) => call(shard, client),
            deadline,
          );
          return { shard, address, response };
        }),
      );
      if (new Set(answers.map((a) => a.response.version)).size <= 1) return answers;
      const seen = answers.map((a) => `${a.shard}: ${a.response.version}`).join(', ');
      const delay = backoffMs(this.retry, 1);
      if (round >= 2 || Date.now() + delay >= deadline)
        throw new ShardedStoreError(
          status.ABORTED,
          `model "${model}": shards answered from different versions (${seen}); rows of different versions are never mixed. Activate the same version on every shard`,
        );
      await sleep(delay);
    }
  }

  /**
   * One call to one shard: the next replica in round robin; on UNAVAILABLE the next one at once,
   * and after every replica failed a jittered backoff before the next round, within the deadline.
   */
  async callShard<Res>(
    name: string,
    call: (client: StoreClient) => Promise<Res>,
    deadline: number,
  ): Promise<{ response: Res; address: string }> {
    const shard = this.shards.get(name);
    if (shard === undefined)
      throw new ShardedStoreError(status.INTERNAL, `shard "${name}" is not in the shard map`);
    const order = shard.order(Date.now());
    const attempts = Math.max(this.retry.attempts, order.length);
    for (let attempt = 1; ; attempt += 1) {
      const replica = order[(attempt - 1) % order.length] as Replica;
      try {
        return { response: await call(replica.client), address: replica.address };
      } catch (err) {
        const unavailable = isServiceError(err) && err.code === status.UNAVAILABLE;
        if (unavailable) replica.downUntil = Date.now() + this.cooldownMs;
        const delay =
          attempt % order.length === 0 ? backoffMs(this.retry, attempt / order.length) : 0;
        if (!unavailable || attempt >= attempts || Date.now() + delay >= deadline)
          throw shardFailure(err, name, replica.address);
        if (delay > 0) await sleep(delay);
      }
    }
  }
}
