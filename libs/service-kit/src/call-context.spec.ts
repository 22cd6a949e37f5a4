// The call contexts ServiceHost hands its handlers: bytes held, lazy abort signal, and no own
// getters (an own accessor pair is an old-generation object per call; see call-context.ts).
import { EventEmitter } from 'node:events';
import { Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import pino from 'pino';
import { StreamMessageContext, UnaryCallContext } from './call-context';

/** The parts of a grpc-js unary call a context reads. */
function fakeCall(deadline: number): ServerUnaryCall<unknown, unknown> & EventEmitter {
  return Object.assign(new EventEmitter(), {
    cancelled: false,
    metadata: new Metadata(),
    getDeadline: () => deadline,
  }) as unknown as ServerUnaryCall<unknown, unknown> & EventEmitter;
}

const logger = pino({ level: 'silent' });
const ownAccessors = (o: object) =>
  Object.entries(Object.getOwnPropertyDescriptors(o))
    .filter(([, d]) => d.get !== undefined || d.set !== undefined)
    .map(([name]) => name);

describe('UnaryCallContext', () => {
  it('has no own getters or setters, whatever the handler reads', () => {
    const ctx = new UnaryCallContext('/a.B/C', fakeCall(Infinity), 10, logger, () => undefined);
    void ctx.signal;
    void ctx.logger;
    expect(ownAccessors(ctx)).toEqual([]);
    ctx.dispose();
  });

  it('returns the request bytes and every reservation on dispose', () => {
    const reserved: number[] = [];
    const ctx = new UnaryCallContext('/a.B/C', fakeCall(Infinity), 10, logger, (n) => {
      reserved.push(n);
    });
    ctx.reserveBytes(5);
    ctx.reserveBytes(7);
    expect(reserved).toEqual([5, 7]);
    expect(ctx.dispose()).toBe(22);
  });

  it('aborts its signal when the caller cancels, and stops listening once disposed', () => {
    const call = fakeCall(Date.now() + 60_000);
    const ctx = new UnaryCallContext('/a.B/C', call, 0, logger, () => undefined);
    const signal = ctx.signal;
    expect(call.listenerCount('cancelled')).toBe(1);
    call.emit('cancelled');
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('cancelled by the caller');
    ctx.dispose();
    expect(call.listenerCount('cancelled')).toBe(0);
  });

  it('names a passed deadline as the reason', () => {
    const ctx = new UnaryCallContext(
      '/a.B/C',
      fakeCall(Date.now() - 1),
      0,
      logger,
      () => undefined,
    );
    expect((ctx.signal.reason as Error).message).toBe('deadline exceeded');
    ctx.dispose();
  });
});

describe('StreamMessageContext', () => {
  it('has no own getters or setters and passes reservations to the host', () => {
    const reserved: number[] = [];
    const ctx = new StreamMessageContext('/a.B/C', undefined, new Metadata(), logger, (n) => {
      reserved.push(n);
    });
    ctx.reserveBytes(3);
    expect(reserved).toEqual([3]);
    expect(ctx.signal.aborted).toBe(false);
    expect(ownAccessors(ctx)).toEqual([]);
  });

  it('keeps a deadline past the timer limit (~24.8 days) from aborting at once or throwing', async () => {
    const far = (days: number) =>
      new StreamMessageContext(
        '/a.B/C',
        Date.now() + days * 86_400_000,
        new Metadata(),
        logger,
        () => {
          /* nothing reserved */
        },
      );
    const signals = [far(30).signal, far(60).signal];
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
  });

  it('aborts its signal once the message deadline has passed', () => {
    const ctx = new StreamMessageContext('/a.B/C', Date.now() - 1, new Metadata(), logger, () => {
      /* nothing reserved */
    });
    return new Promise<void>((resolve) => {
      const signal = ctx.signal;
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve());
    });
  });
});
