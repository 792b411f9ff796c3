#!/usr/bin/env python3
"""Validate the warrant catalog YAML files.

Usage: python3 check.py [--csv PATH]
Checks: the files load; keys match the schemas exactly (serde refuses unknown fields);
exactly the 38 Annex A controls with the CSV ids and short titles; objectives exist;
every ref in crosswalk, NIST and areas names a real ISO 42001 clause, sub-clause or control;
every crosswalk article exists and every EU AI Act article is in the crosswalk; dates parse.
"""
import csv
import datetime as dt
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
# The reference facts (ids, short titles, objective groups) live in the repository, so a clone checks alone.
DEFAULT_CSV = os.path.join(HERE, "reference/iso42001_annex_a.csv")

errors = []


def err(msg):
    errors.append(msg)


class Loader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as strings (as serde_yaml sees them)."""


Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in rs if tag != "tag:yaml.org,2002:timestamp"]
    for ch, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(name):
    try:
        with open(os.path.join(HERE, name), encoding="utf-8") as f:
            return yaml.load(f, Loader=Loader)
    except (OSError, yaml.YAMLError) as e:
        sys.exit(f"check.py: cannot load {name}: {e}")


def keys(obj, where, required, optional=()):
    if not isinstance(obj, dict):
        err(f"{where}: expected a mapping, got {type(obj).__name__}")
        return False
    have = set(obj)
    for k in required:
        if k not in have:
            err(f"{where}: missing field `{k}`")
    for k in have - set(required) - set(optional):
        err(f"{where}: unknown field `{k}`")
    return True


def text(v, where):
    if not isinstance(v, str) or not v.strip():
        err(f"{where}: expected a non-empty string")


def date(v, where):
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            pass
    err(f"{where}: not a YYYY-MM-DD date: {v!r}")
    return None


def unique(ids, where):
    seen = set()
    for i in ids:
        if i in seen:
            err(f"{where}: duplicate id {i!r}")
        seen.add(i)


# ---------------------------------------------------------------- CSV
if "--csv" in sys.argv:
    csv_path = sys.argv[sys.argv.index("--csv") + 1]
else:
    csv_path = DEFAULT_CSV
if not os.path.exists(csv_path):
    sys.exit(f"check.py: {csv_path}: the Annex A reference CSV not found; pass --csv PATH")
with open(csv_path, newline="", encoding="utf-8") as f:
    csv_rows = {r["id"]: r for r in csv.DictReader(f)}

# ---------------------------------------------------------------- iso42001.yaml
iso = load("iso42001.yaml")
keys(iso, "iso42001", ["standard", "note", "clauses", "objectives", "controls"])
iso_ids = set()
clause_count = sub_count = 0
for c in iso.get("clauses", []):
    keys(c, f"clause {c.get('id')}", ["id", "title", "subclauses"])
    text(c.get("title"), f"clause {c.get('id')} title")
    iso_ids.add(c["id"])
    clause_count += 1
    for s in c.get("subclauses", []):
        w = f"sub-clause {s.get('id')}"
        keys(s, w, ["id", "title", "summary", "iso27001"])
        if not str(s.get("id", "")).startswith(c["id"] + "."):
            err(f"{w}: not under clause {c['id']}")
        text(s.get("title"), w + " title")
        text(s.get("summary"), w + " summary")
        if not isinstance(s.get("iso27001"), bool):
            err(f"{w}: iso27001 must be true/false")
        if s["id"] in iso_ids:
            err(f"{w}: duplicate id")
        iso_ids.add(s["id"])
        sub_count += 1
if [c["id"] for c in iso.get("clauses", [])] != [str(n) for n in range(4, 11)]:
    err("clauses must be 4..10 in order")

objective_ids = set()
for o in iso.get("objectives", []):
    keys(o, f"objective {o.get('id')}", ["id", "title", "summary"])
    text(o.get("summary"), f"objective {o.get('id')} summary")
    objective_ids.add(o["id"])
expected_objectives = {r["objective_group"] for r in csv_rows.values()}
if objective_ids != expected_objectives or len(iso["objectives"]) != 10:
    err(f"objectives {sorted(objective_ids)} != CSV groups {sorted(expected_objectives)}")

control_ids = []
for ctl in iso.get("controls", []):
    w = f"control {ctl.get('id')}"
    keys(ctl, w, ["id", "title", "objective", "summary", "iso27001"])
    control_ids.append(ctl["id"])
    row = csv_rows.get(ctl["id"])
    if row is None:
        err(f"{w}: not an Annex A control in the CSV (invented id?)")
        continue
    if ctl.get("title") != row["short_title"]:
        err(f"{w}: title {ctl.get('title')!r} != CSV {row['short_title']!r}")
    if ctl.get("objective") not in objective_ids:
        err(f"{w}: objective {ctl.get('objective')!r} does not exist")
    if ctl.get("objective") != row["objective_group"]:
        err(f"{w}: objective {ctl.get('objective')!r} != CSV {row['objective_group']!r}")
    text(ctl.get("summary"), w + " summary")
    paraphrase = row.get("objective_paraphrase")  # only in a fuller reference passed with --csv
    if paraphrase and ctl.get("summary", "").strip() == paraphrase.strip():
        err(f"{w}: summary copies the objective text")
    if not isinstance(ctl.get("iso27001"), bool):
        err(f"{w}: iso27001 must be true/false")
unique(control_ids, "controls")
if len(control_ids) != 38 or set(control_ids) != set(csv_rows):
    err(f"controls: {len(control_ids)} listed; missing {sorted(set(csv_rows) - set(control_ids))}, "
        f"extra {sorted(set(control_ids) - set(csv_rows))}")
iso_ids |= set(control_ids)


def iso_ref(ref, where):
    if ref not in iso_ids:
        err(f"{where}: {ref!r} is not an ISO 42001 clause, sub-clause or Annex A control")


# ---------------------------------------------------------------- eu_ai_act.yaml
CATEGORIES = {"all", "high_risk_annex_iii", "high_risk_annex_i", "gpai", "transparency"}
ROLES = {"provider", "deployer", "authority", "all"}
act = load("eu_ai_act.yaml")
keys(act, "eu_ai_act", ["regulation", "amended_by", "note", "articles"])
article_ids = []
for a in act.get("articles", []):
    w = f"article {a.get('id')}"
    keys(a, w, ["id", "number", "title", "roles", "summary", "applies"])
    article_ids.append(a["id"])
    if a["id"] != f"Art.{a.get('number')}" or not isinstance(a.get("number"), str):
        err(f"{w}: id and number disagree (number must be a quoted string)")
    text(a.get("title"), w + " title")
    text(a.get("summary"), w + " summary")
    roles = a.get("roles") or []
    if not roles or not set(roles) <= ROLES:
        err(f"{w}: roles {roles} not a non-empty subset of {sorted(ROLES)}")
    applies = a.get("applies") or []
    if not applies:
        err(f"{w}: no applies entries")
    unique([x.get("category") for x in applies], w + " applies categories")
    for x in applies:
        keys(x, w + " applies", ["category", "original", "amended"], ["note"])
        if x.get("category") not in CATEGORIES:
            err(f"{w}: unknown category {x.get('category')!r}")
        o = date(x.get("original"), w + " original")
        m = date(x.get("amended"), w + " amended")
        if o and m and m < o:
            err(f"{w}: amended date {m} earlier than original {o}")
        if "note" in x:
            text(x["note"], w + " note")
unique(article_ids, "articles")
article_set = set(article_ids)
required_articles = {f"Art.{n}" for n in
                     (3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 17, 19, 25, 26, 27, 43, 47, 48, 49, 50, 71, 72, 73)}
if not required_articles <= article_set:
    err(f"eu_ai_act: missing required articles {sorted(required_articles - article_set)}")

# ---------------------------------------------------------------- crosswalk.yaml
cw = load("crosswalk.yaml")
keys(cw, "crosswalk", ["note", "articles", "tasks"])
cw_articles = []
for a in cw.get("articles", []):
    w = f"crosswalk {a.get('article')}"
    keys(a, w, ["article", "supports"], ["not_covered"])
    cw_articles.append(a.get("article"))
    if a.get("article") not in article_set:
        err(f"{w}: article not in eu_ai_act.yaml")
    if not isinstance(a.get("supports"), list):
        err(f"{w}: supports must be a list")
        continue
    unique([s.get("ref") for s in a["supports"]], w + " refs")
    for s in a["supports"]:
        keys(s, w + " support", ["ref", "strength", "why"])
        iso_ref(s.get("ref"), w)
        if s.get("strength") not in ("strong", "moderate"):
            err(f"{w}: strength {s.get('strength')!r}")
        text(s.get("why"), w + " why")
    if "not_covered" in a:
        text(a["not_covered"], w + " not_covered")
    if not a["supports"] and "not_covered" not in a:
        err(f"{w}: no support and no not_covered")
unique(cw_articles, "crosswalk articles")
if set(cw_articles) != article_set:
    err(f"crosswalk: articles missing {sorted(article_set - set(cw_articles))}")

task_ids = []
for t in cw.get("tasks", []):
    w = f"task {t.get('id')}"
    keys(t, w, ["id", "article", "title", "description", "applies_to", "evidence"])
    task_ids.append(t.get("id"))
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", str(t.get("id"))):
        err(f"{w}: id must be kebab-case")
    if t.get("article") not in article_set:
        err(f"{w}: article {t.get('article')!r} not in eu_ai_act.yaml")
    for k in ("title", "description", "evidence"):
        text(t.get(k), f"{w} {k}")
    at = t.get("applies_to") or []
    if not at or not set(at) <= CATEGORIES:
        err(f"{w}: applies_to {at} not a non-empty subset of {sorted(CATEGORIES)}")
unique(task_ids, "tasks")
task_articles = {t.get("article") for t in cw.get("tasks", [])}
for art in ("Art.43", "Art.27", "Art.47", "Art.48", "Art.49", "Art.4", "Art.71"):
    if art not in task_articles:
        err(f"tasks: no task for {art}")
lr = [t for t in cw.get("tasks", []) if t.get("id") == "log-retention"]
if not lr or lr[0].get("article") not in ("Art.19", "Art.26"):
    err("tasks: `log-retention` (Art. 19 / 26(6)) missing")

# ---------------------------------------------------------------- nist_ai_rmf.yaml
nist = load("nist_ai_rmf.yaml")
keys(nist, "nist", ["framework", "functions"])
expected = {"GOVERN": 6, "MAP": 5, "MEASURE": 4, "MANAGE": 4}
nist_cats = 0
funcs = [f.get("id") for f in nist.get("functions", [])]
if funcs != list(expected):
    err(f"nist: functions {funcs} != {list(expected)}")
for f in nist.get("functions", []):
    w = f"nist {f.get('id')}"
    keys(f, w, ["id", "summary", "categories"])
    text(f.get("summary"), w + " summary")
    cats = [c.get("id") for c in f.get("categories", [])]
    want = [f"{f.get('id')} {n}" for n in range(1, expected.get(f.get("id"), 0) + 1)]
    if cats != want:
        err(f"{w}: categories {cats} != {want}")
    for c in f.get("categories", []):
        keys(c, f"nist {c.get('id')}", ["id", "title", "iso"])
        text(c.get("title"), f"nist {c.get('id')} title")
        if not c.get("iso"):
            err(f"nist {c.get('id')}: empty iso list")
        unique(c.get("iso") or [], f"nist {c.get('id')} iso")
        for r in c.get("iso") or []:
            iso_ref(r, f"nist {c.get('id')}")
        nist_cats += 1

# ---------------------------------------------------------------- areas.yaml
areas = load("areas.yaml")
keys(areas, "areas", ["areas"])
want_areas = ["impact-assessment", "risk-assessment", "data-governance", "development",
              "third-parties", "monitoring", "documentation", "human-oversight"]
got_areas = [a.get("id") for a in areas.get("areas", [])]
if got_areas != want_areas:
    err(f"areas: {got_areas} != {want_areas}")
for a in areas.get("areas", []):
    w = f"area {a.get('id')}"
    keys(a, w, ["id", "title", "refs", "agents_add", "warrant"])
    for k in ("title", "agents_add", "warrant"):
        text(a.get(k), f"{w} {k}")
    if not a.get("refs"):
        err(f"{w}: empty refs")
    unique(a.get("refs") or [], w + " refs")
    for r in a.get("refs") or []:
        iso_ref(r, w)

# ---------------------------------------------------------------- report
supports = sum(len(a.get("supports", [])) for a in cw.get("articles", []))
print(f"iso42001:   {clause_count} clauses, {sub_count} sub-clauses, "
      f"{len(iso.get('objectives', []))} objectives, {len(control_ids)} controls")
print(f"eu_ai_act:  {len(article_ids)} articles")
print(f"crosswalk:  {len(cw_articles)} articles, {supports} supports, {len(task_ids)} tasks")
print(f"nist:       {len(funcs)} functions, {nist_cats} categories")
print(f"areas:      {len(got_areas)} areas")
if errors:
    print(f"\nFAILED: {len(errors)} problem(s)")
    for e in errors:
        print("  - " + e)
    sys.exit(1)
print("\nOK")
