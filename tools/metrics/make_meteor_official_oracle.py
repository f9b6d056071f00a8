#!/usr/bin/env python3
"""Builds tests/eval/data/meteor_official_ucm.json: official METEOR 1.5 (coco-caption's jar with
data/paraphrase-en.gz) on the UCM-Captions test split, numbers only (no captions, no jar, no table).

Usage (needs java and the official package, e.g. `pip download pycocoevalcap --no-deps` + unzip):
  PYTHONPATH=/tmp/pycoco python3 tools/metrics/make_meteor_official_oracle.py \
      ../shared/data/ucm/dataset_ucm.json tests/eval/data/meteor_official_ucm.json

Construction (the C++ test rebuilds the same inputs from dataset_ucm.json): the test images in file
order; image k's references = its 5 raw captions; its candidate = raw caption (k % 5) of test image
(k + 1) % N (a neighbour, usually of the same class: partial, stem, synonym and paraphrase matches).
Both sides go through pycocoevalcap's PTBTokenizer, then pycocoevalcap's Meteor().
"""
import json
import sys

from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer


def main(dataset_path, out_path):
    ds = json.load(open(dataset_path))
    test = [im for im in ds["images"] if im["split"] == "test"]
    n = len(test)
    gts, res = {}, {}
    for k, im in enumerate(test):
        key = str(k)
        gts[key] = [{"caption": s["raw"]} for s in im["sentences"]]
        nb = test[(k + 1) % n]["sentences"]
        res[key] = [{"caption": nb[k % len(nb)]["raw"]}]
    tok = PTBTokenizer()
    gts_t, res_t = tok.tokenize(gts), tok.tokenize(res)
    corpus, per_image = Meteor().compute_score(gts_t, res_t)
    out = {
        "source": "official pycocoevalcap 1.2 (PyPI) meteor-1.5.jar + data/paraphrase-en.gz, java "
                  "-Xmx2G -l en -norm via pycocoevalcap.meteor.Meteor; tokenized by its PTBTokenizer",
        "construction": __doc__.split("Construction")[1].strip(),
        "num_images": n,
        "METEOR": corpus,
        "METEOR_per_image": [float(x) for x in per_image],
    }
    json.dump(out, open(out_path, "w"), indent=1)
    print("METEOR", corpus)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
