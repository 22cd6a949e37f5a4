// The Node open-loop load runner (issue #6): filled in by the loadtest work.
export {};
