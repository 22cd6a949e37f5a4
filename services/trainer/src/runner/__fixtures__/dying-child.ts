// A stand-in for train-child.ts that dies on start, as an out-of-memory kill or a crash would.
process.once('message', () => {
  process.stderr.write('fatal: out of cheese\n');
  process.exit(3);
});
