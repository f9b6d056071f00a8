#!/usr/bin/env python3
"""Scene accuracy of generated captions on the synthetic dataset (issue 8 quality bar: >= 80%).

For every image of the chosen split (default: test) of dataset_synth.json, takes the model's caption
and checks whether it names the image's ground-truth scene type, using the keyword map below (the
same map as synth/scene_keywords.cpp; keep them in step). Reports
  named:     the caption names the true scene type;
  exclusive: it names the true scene type and no other.

Captions JSON, any of:
  [{"image_id"|"imgid"|"id"|"filename": ..., "caption"|"candidate": "..."}]
  {"images": [same objects]}          (e.g. the input format of `rscapret score`)
  {"<imgid or filename>": "caption"}
With --self-check, the dataset's own first reference caption is used (must give 100%).

Usage: scene_accuracy.py --dataset DIR/dataset_synth.json --captions preds.json [--split test] [--json]
"""
import argparse
import json
import sys

KEYWORDS = {
    "farmland": ["farmland", "cropland"],
    "forest": ["forest"],
    "river": ["river"],
    "beach": ["beach"],
    "dense_residential": ["dense residential"],
    "sparse_residential": ["sparse residential"],
    "intersection": ["intersection", "crossroads"],
    "freeway": ["freeway", "highway"],
    "parking_lot": ["parking lot"],
    "airport": ["airport", "airplane", "plane"],
    "storage_tanks": ["storage tank"],
    "harbor": ["harbor", "harbour", "boat"],
    "tennis_court": ["tennis court"],
    "baseball_field": ["baseball field", "baseball diamond"],
    "golf_course": ["golf course"],
    "bare_land": ["bare land"],
    "meadow": ["meadow", "grassland"],
    "chaparral": ["chaparral"],
    "mobile_home_park": ["mobile home"],
}


def word_matches(word, key):
    return word in (key, key + "s", key + "es")


def names_scene(caption, scene):
    words = caption.lower().split()
    for kw in KEYWORDS[scene]:
        kws = kw.split()
        for i in range(len(words) - len(kws) + 1):
            if all(word_matches(words[i + j], kws[j]) for j in range(len(kws))):
                return True
    return False


def scenes_named(caption):
    return [s for s in KEYWORDS if names_scene(caption, s)]


def load_predictions(path):
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict) and "images" in doc:
        doc = doc["images"]
    preds = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            preds[str(k)] = v if isinstance(v, str) else v[0]
        return preds
    for item in doc:
        key = next((item[k] for k in ("image_id", "imgid", "id", "filename") if k in item), None)
        cap = next((item[k] for k in ("caption", "candidate") if k in item), None)
        if key is None or cap is None:
            sys.exit(f"scene_accuracy: cannot read entry {item!r}: need an id and a caption")
        preds[str(key)] = cap
    return preds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--captions")
    ap.add_argument("--split", default="test")
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args()
    if not a.captions and not a.self_check:
        ap.error("--captions is required (or --self-check)")
    with open(a.dataset) as f:
        images = [im for im in json.load(f)["images"] if im["split"] == a.split]
    if not images:
        sys.exit(f"scene_accuracy: no images in split '{a.split}'")
    preds = {} if a.self_check else load_predictions(a.captions)
    named = exclusive = missing = 0
    per_scene = {}
    for im in images:
        scene = im["scene"]
        if a.self_check:
            cap = im["sentences"][0]["raw"]
        else:
            cap = preds.get(str(im["imgid"]), preds.get(im["filename"]))
        if cap is None:
            missing += 1
            cap = ""
        ok = names_scene(cap, scene)
        named += ok
        exclusive += ok and len(scenes_named(cap)) == 1
        hit, tot = per_scene.get(scene, (0, 0))
        per_scene[scene] = (hit + ok, tot + 1)
    n = len(images)
    result = {"split": a.split, "images": n, "named": named / n, "exclusive": exclusive / n,
              "missing": missing, "per_scene": {s: h / t for s, (h, t) in sorted(per_scene.items())}}
    if a.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{a.split}: {n} images, scene named {100 * named / n:.1f}%, "
              f"exclusively {100 * exclusive / n:.1f}%" + (f", {missing} without a caption" if missing else ""))
        for s, v in result["per_scene"].items():
            print(f"  {s:20s} {100 * v:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
