#!/usr/bin/env python3
"""FAISS side of `embpress bench search --vs faiss` (a benchmark, never a test).

Started by bench/src/search-bench.ts with the data it generated:
  --base FILE      rows x dim float32 (little-endian, row-major): the vectors to index
  --queries FILE   queries x dim float32
  --dim, --nlist, --k, --seed
It builds, on ONE thread (faiss.omp_set_num_threads(1)), IndexFlatIP (the exhaustive fp32 scan)
and IndexIVFScalarQuantizer(IndexFlatIP quantizer, dim, nlist, QT_8bit, METRIC_INNER_PRODUCT),
FAISS's defaults otherwise (k-means on at most 256 points per list, 10 iterations, residual
encoding), then prints one JSON line on stdout:
  {"ready": true, "version", "buildSeconds" (IVF train + add), "bytesPerVector" (the serialized
   IVF index / rows), "flatBytesPerVector"}
and answers requests, one JSON line each on stdin:
  {"op": "search", "index": "ivf" | "flat", "nprobe": P, "start": S, "end": E}
with {"ids": [...], "times": [...]}: queries [S, E) searched ONE PER CALL, each call timed alone
(ms, time.perf_counter around index.search); {"op": "quit"} ends it. The caller interleaves
blocks of these with its own searches. Exit code 3 with one line on stderr when faiss or numpy
cannot be imported.
"""

import argparse
import json
import sys
import time

try:
    import numpy as np
    import faiss
except ImportError as err:  # pragma: no cover - the caller reports this
    sys.stderr.write(
        f"faiss_reference.py: cannot import numpy/faiss ({err}); pip install faiss-cpu\n"
    )
    sys.exit(3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--dim", type=int, required=True)
    parser.add_argument("--nlist", type=int, required=True)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    faiss.omp_set_num_threads(1)
    base = np.fromfile(args.base, dtype="<f4").reshape(-1, args.dim)
    queries = np.fromfile(args.queries, dtype="<f4").reshape(-1, args.dim)
    rows = base.shape[0]

    flat = faiss.IndexFlatIP(args.dim)
    flat.add(base)

    started = time.perf_counter()
    quantizer = faiss.IndexFlatIP(args.dim)
    ivf = faiss.IndexIVFScalarQuantizer(
        quantizer, args.dim, args.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    ivf.cp.seed = args.seed
    ivf.train(base)
    ivf.add(base)
    build_seconds = time.perf_counter() - started

    ready = {
        "ready": True,
        "version": faiss.__version__,
        "buildSeconds": build_seconds,
        "bytesPerVector": len(faiss.serialize_index(ivf)) / rows,
        "flatBytesPerVector": len(faiss.serialize_index(flat)) / rows,
    }
    print(json.dumps(ready), flush=True)

    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "quit":
            break
        index = ivf if request["index"] == "ivf" else flat
        if request["index"] == "ivf":
            ivf.nprobe = int(request["nprobe"])
        ids = []
        times = []
        for q in range(int(request["start"]), int(request["end"])):
            query = queries[q : q + 1]
            t = time.perf_counter()
            _, found = index.search(query, args.k)
            times.append((time.perf_counter() - t) * 1000.0)
            ids.extend(int(i) for i in found[0])
        print(json.dumps({"ids": ids, "times": times}), flush=True)


if __name__ == "__main__":
    main()
