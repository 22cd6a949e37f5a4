import { missingServiceNodeFlags, SERVICE_NODE_FLAGS } from './node-flags';

describe('missingServiceNodeFlags', () => {
  it('lists every flag when the command line has none of them', () => {
    expect(missingServiceNodeFlags(['--require', 'tsx/cjs'])).toEqual([...SERVICE_NODE_FLAGS]);
  });

  it('counts a flag as set whatever its value', () => {
    const names = SERVICE_NODE_FLAGS.map((f) => `${f.split('=')[0]}=512`);
    expect(missingServiceNodeFlags(['--require', 'tsx/cjs', ...names])).toEqual([]);
    expect(missingServiceNodeFlags([...SERVICE_NODE_FLAGS])).toEqual([]);
  });

  it('does not mistake a longer flag for one of them', () => {
    const longer = SERVICE_NODE_FLAGS.map((f) => `${f.split('=')[0]}-extra=1`);
    expect(missingServiceNodeFlags(longer)).toEqual([...SERVICE_NODE_FLAGS]);
  });
});
