"""The keyword lexicon: terms per label, and a fast matcher counting them in text.

Terms are lower-case words separated by spaces; a word ending in ``*`` matches any word that
starts with it, ``<num>`` matches a number. Text is normalised before matching: lower case,
hyphens and punctuation become word breaks, ``i.v.`` becomes ``iv``, and the enantiomer
spellings (``S-ketamine``, ``(S)-ketamine``, ``S(+)-ketamine`` ...) become ``esketamine`` /
``arketamine``. So ``treatment-resistant`` is matched by the term ``treatment resistant``.

The naive baseline (:mod:`kb.tagging.baseline`) tags with these terms directly; the classifier
counts them (in the title, the abstract and the sentences naming ketamine) as features and
learns how much each is worth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableSequence, Sequence

# facet -> label -> terms. Keep each list readable: synonyms, scales, typical phrasings.
LEXICON: dict[str, dict[str, tuple[str, ...]]] = {
    "agent": {
        "ketamine": ("ketamine", "ketamines", "racemic ketamine", "ketalar",
                     "ketamine hydrochloride"),
        "esketamine": ("esketamine", "spravato", "esketamine nasal spray"),
        "arketamine": ("arketamine",),
        "metabolite": ("norketamine", "noresketamine", "hydroxynorketamine*", "hnk", "dhnk",
                       "dehydronorketamine", "ketamine metabolite*", "its metabolite*",
                       "and metabolites"),
    },
    "condition": {
        "depression": ("depress*", "mdd", "antidepressant*", "dysthymi*", "melanchol*",
                       "major depressive disorder"),
        "trd": ("treatment resistant", "treatment refractory", "trd", "refractory depress*",
                "resistant depress*", "difficult to treat", "inadequate response*",
                "failed to respond", "non responsive", "nonresponsive"),
        "perinatal_depression": ("postpartum", "post partum", "peripartum", "perinatal",
                                 "antenatal", "postnatal", "puerper*", "cesarean", "caesarean",
                                 "pregnan*"),
        "bipolar": ("bipolar", "mania", "manic"),
        "suicidality": ("suicid*",),
        "ptsd": ("ptsd", "posttraumatic", "post traumatic"),
        "anxiety": ("anxiety", "anxious", "anxiolytic*", "panic", "preoperative anxiety"),
        "ocd": ("obsessive*", "ocd"),
        "substance_use": ("addict*", "alcohol*", "cocaine", "opioid use disorder*",
                          "substance use", "substance abuse", "recreational", "heroin",
                          "drug use*", "drug abuse", "illicit", "methamphetamine", "cannabis",
                          "abstinence", "drug users"),
        "chronic_pain": ("chronic pain", "neuropathic", "neuropathy", "crps",
                         "complex regional", "fibromyalgia", "migraine*", "headache*",
                         "cancer pain", "phantom", "postherpetic", "ischemic pain",
                         "ischaemic pain", "allodynia", "spinal cord injury",
                         "chronic postsurgical"),
        "acute_pain": ("postoperative pain", "post operative pain", "postoperative analgesia",
                       "surgery", "surgical", "fracture*", "trauma", "emergency department",
                       "acute pain", "tonsillectomy", "appendicectomy", "appendectomy",
                       "arthroplasty", "opioid consumption", "morphine consumption",
                       "analgesic requirement*", "renal colic", "procedural pain"),
        "anesthesia_sedation": ("anesthesia", "anaesthesia", "anesthetic*", "anaesthetic*",
                                "sedation", "sedative*", "intubation", "induction",
                                "procedural sedation", "intensive care", "icu",
                                "mechanical ventilation", "premedication"),
        "neurocognitive": ("delirium", "cognitive dysfunction", "postoperative cognitive",
                           "pocd", "dementia", "alzheimer*", "cognitive impairment",
                           "cognitive decline"),
        "other": ("schizophreni*", "autism", "autistic", "epilep*", "seizure*", "asthma*",
                  "healthy volunteers", "healthy subjects", "healthy participants",
                  "healthy men", "insomnia", "sleep", "parkinson*", "psoriasis", "diabet*",
                  "hypertension", "eating disorder*", "anorexia", "stroke", "rett",
                  "tinnitus", "cardiac", "arrhythmi*"),
    },
    "route": {
        "intravenous": ("intravenous*", "iv", "infusion*", "infused", "bolus"),
        "intranasal": ("intranasal*", "nasal spray*", "nasal", "spravato"),
        "intramuscular": ("intramuscular*", "im"),
        "subcutaneous": ("subcutaneous*", "sc", "subcut"),
        "oral": ("oral", "orally", "tablet*", "capsule*", "per os", "po"),
        "sublingual_buccal": ("sublingual*", "buccal*", "lozenge*", "troche*",
                              "orally dissolving", "odt"),
        "other_route": ("epidural*", "intrathecal*", "caudal", "rectal*", "inhal*", "nebuli*",
                        "topical*", "infiltration", "intra arterial", "intraarterial",
                        "transdermal", "intraperitoneal*", "wound"),
    },
    "outcome": {
        "depressive_symptoms": ("madrs", "montgomery", "hamilton depression", "ham d", "hamd",
                                "hdrs", "hrsd", "bdi", "beck depression", "qids", "epds",
                                "phq 9", "phq9", "depressive symptom*", "depression severity",
                                "depression score*", "depression rating", "cesd", "ces d",
                                "hads", "antidepressant effect*", "antidepressant efficacy",
                                "ids c", "ids sr", "anhedonia"),
        "response_remission": ("remission", "remitted", "remit*", "response rate*",
                               "responder*", "response"),
        "relapse_maintenance": ("relapse*", "maintenance", "durab*", "long term", "sustained",
                                "time to relapse", "recurrence"),
        "suicidality_outcome": ("suicidal ideation", "ssi", "c ssrs", "cssrs", "suicid*",
                                "madrs si", "suicidal thoughts", "suicide attempt*"),
        "anxiety_ptsd_ocd_symptoms": ("anxiety", "caps", "ybocs", "y bocs", "ham a", "hama",
                                      "stai", "gad 7", "ptsd symptom*", "pcl 5",
                                      "anxiety score*"),
        "pain_outcome": ("pain", "analges*", "opioid consumption", "morphine consumption",
                         "vas", "visual analog*", "nrs", "numeric rating", "hyperalgesia",
                         "opioid requirement*", "morphine requirement*"),
        "safety_tolerability": ("adverse", "side effect*", "safety", "tolerab*", "nausea",
                                "vomiting", "blood pressure", "heart rate", "hemodynamic*",
                                "haemodynamic*", "toxicity", "complication*",
                                "respiratory depression"),
        "dissociation": ("dissociat*", "psychotomimetic*", "cadss", "hallucinat*",
                         "emergence", "psychotic symptom*", "bprs", "dream*", "nightmare*",
                         "dysphori*", "psychosis", "psychotic"),
        "cognition": ("cogniti*", "delirium", "memory", "neuropsycholog*", "attention",
                      "executive function*", "verbal fluency"),
        "misuse_dependence": ("misuse", "abuse", "dependence", "diversion", "craving",
                              "addict*", "abuse potential"),
        "quality_of_life_function": ("quality of life", "qol", "functioning", "disability",
                                     "sds", "sheehan", "work productivity", "sick leave",
                                     "eq 5d", "sf 36", "daily activities", "functional"),
        "biomarker_mechanism": ("biomarker*", "eeg", "mri", "fmri", "pet", "plasma", "serum",
                                "bdnf", "receptor*", "mechanism*", "neuroimag*",
                                "pharmacokinetic*", "connectivity", "glutamate*", "mtor",
                                "synap*", "inflammat*", "cytokine*", "concentration*",
                                "expression", "occupancy", "neuroplasticity"),
    },
    "design": {
        "systematic_review_meta_analysis": ("systematic review*", "meta analys*",
                                            "metaanalys*", "meta regression", "network meta",
                                            "prisma", "scoping review", "systematically"),
        "protocol": ("protocol", "study protocol", "trial protocol", "will be randomized",
                     "will be randomised", "will be recruited", "will be enrolled",
                     "will be assessed", "will be allocated", "this protocol"),
        "guideline_consensus": ("guideline*", "consensus", "position statement",
                                "recommendation*", "expert panel", "delphi", "task force"),
        "rct": ("randomized", "randomised", "randomly", "randomization", "randomisation",
                "placebo controlled", "double blind", "controlled trial*", "crossover",
                "cross over", "rct"),
        "case_report_series": ("case report*", "case series", "we report", "we describe",
                               "we present", "year old", "a patient", "this case", "a case",
                               "two cases", "three cases", "<num> cases"),
        "preclinical": ("rat", "rats", "mice", "mouse", "murine", "in vitro", "rodent*",
                        "animal*", "sprague", "wistar", "c57bl*", "dog", "dogs", "rabbit*",
                        "primate*", "zebrafish", "piglet*", "sheep", "cultured", "neurons"),
        "narrative_review": ("review", "overview", "perspective*", "we review", "this review",
                             "narrative review", "literature review", "current evidence",
                             "we discuss", "update"),
        "nonrandomized_trial": ("open label", "single arm", "non randomized",
                                "nonrandomized", "non randomised", "nonrandomised",
                                "pilot study", "uncontrolled", "phase i", "phase 1",
                                "open trial", "single group", "extension study"),
        "observational": ("cohort", "retrospective*", "case control", "cross sectional",
                          "registry", "survey*", "chart review", "real world", "database*",
                          "claims", "pharmacovigilance", "population based", "prevalence",
                          "incidence", "naturalistic"),
        "other": ("editorial", "letter", "comment*", "qualitative", "cost effective*",
                  "economic*", "interview*", "focus group*", "validation", "psychometric*",
                  "statistical"),
    },
}

# Extra cues the classifier counts (not labels of their own).
CUES: dict[str, tuple[str, ...]] = {
    "placebo": ("placebo*",),
    "double_blind": ("double blind", "single blind", "blinded"),
    "trial": ("trial", "trials"),
    "n_patients": ("<num> patients", "<num> participants", "<num> subjects", "<num> adults",
                   "<num> children", "<num> women", "<num> volunteers"),
    "future_tense": ("will be", "we will", "will receive", "is designed", "are expected"),
    "registration": ("nct*", "clinicaltrials gov", "registered", "registration"),
    "comparison": ("versus", "vs", "compared with", "compared to", "or placebo"),
    "animal_model": ("animal model*", "model of", "sprague dawley", "wistar rats"),
    "oral_antidepressant": ("oral antidepressant*", "newly initiated oral"),
    "nonmood_depression": ("respiratory depression", "cardiovascular depression",
                           "myocardial depression", "cns depression", "cardiac depression"),
    "animal_anaesthesia": ("anesthetized with ketamine", "anaesthetized with ketamine",
                           "anaesthetised with ketamine", "ketamine xylazine",
                           "xylazine ketamine", "ketamine and xylazine", "xylazine",
                           "medetomidine", "anesthetized with", "anaesthetized with"),
    "other_drugs": ("midazolam", "propofol", "morphine", "fentanyl", "lidocaine",
                    "magnesium", "dexmedetomidine", "clonidine", "remifentanil",
                    "psilocybin", "ect", "electroconvulsive", "tms", "vortioxetine",
                    "esketamine or", "and esketamine", "and ketamine", "ketamine and",
                    "such as ketamine"),
    "nmda": ("nmda*", "glutamatergic", "n methyl d aspartate"),
    "rapid_acting": ("rapid acting", "rapid onset", "within hours", "fast acting"),
    "psychedelic": ("psychedelic*", "hallucinogen*"),
    "sr_search": ("searched", "pubmed", "medline", "embase", "cochrane", "web of science",
                  "eligible studies", "included studies", "studies were included"),
    "pooled": ("pooled", "post hoc", "secondary analysis", "posthoc"),
    "headings": ("background", "methods", "results", "conclusion*", "objective*"),
}

# Every key the matcher can count: ("agent", "ketamine"), ..., ("cue", "placebo").
KEYS: tuple[tuple[str, str], ...] = tuple(
    [(f, lab) for f, table in LEXICON.items() for lab in table]
    + [("cue", name) for name in CUES])
KEY_INDEX = {k: i for i, k in enumerate(KEYS)}
AGENT_KEYS = tuple(KEY_INDEX[("agent", lab)] for lab in LEXICON["agent"])

# "S-ketamine", "(S)-ketamine", "S(+)-ketamine", "(S)-(+)-ketamine" ... end just before "ketamine".
_ENANTIOMER_PREFIX = re.compile(r"(?:\(([sr])\)|(?<![a-z0-9])([sr]))\s*(?:-?\s*\([+-]\))?\s*-?\s*$")
_ABBREV = re.compile(r"\b([a-z])\.\s?([a-z])\.(?=\W|$)")
_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2212"})
_TOKEN = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[a-z0-9(\[])|;\s+|\n+")


def _enantiomers(text: str) -> str:
    parts = text.split("ketamine")
    for i in range(len(parts) - 1):
        m = _ENANTIOMER_PREFIX.search(parts[i][-16:])
        if m:
            form = "es" if (m.group(1) or m.group(2)) == "s" else "ar"
            parts[i] = parts[i][: len(parts[i]) - len(m.group(0))] + " " + form
    return "ketamine".join(parts)


def normalise(text: str) -> str:
    """Lower case, unified dashes, ``i.v.`` -> ``iv``, enantiomers spelt as one word."""
    text = text.translate(_DASHES).lower()
    if "ketamine" in text:
        text = _enantiomers(text)
    return _ABBREV.sub(r"\1\2", text)


def _words(normalised: str) -> list[str]:
    return ["<num>" if t.isdigit() else t for t in _TOKEN.findall(normalised)]


def tokens(text: str) -> list[str]:
    """Words of normalised text; numbers become ``<num>``."""
    return _words(normalise(text))


def sentence_tokens(text: str) -> list[list[str]]:
    """The words of each sentence of ``text`` (a rough split, also on ``;``, which older
    MEDLINE abstracts use between sections)."""
    return [w for w in (_words(s) for s in _SENTENCE.split(normalise(text))) if w]


def _word_match(pattern: str, word: str) -> bool:
    if pattern.endswith("*"):
        return word.startswith(pattern[:-1])
    return word == pattern


class _Index:
    """Terms compiled for lookup: exact words, word prefixes, and multi-word terms (found by
    their first two words, or by their first word when the second is a prefix)."""

    def __init__(self, entries: Iterable[tuple[str, int]]) -> None:
        self.exact: dict[str, list[int]] = {}
        self.prefix: dict[str, list[int]] = {}
        self.by_bigram: dict[tuple[str, str], list[tuple[tuple[str, ...], int]]] = {}
        self.by_head: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for term, key in entries:
            words = tuple(term.split())
            if len(words) > 1:
                if words[0].endswith("*") or words[1].endswith("*"):
                    self.by_head.setdefault(words[0], []).append((words, key))
                else:
                    self.by_bigram.setdefault((words[0], words[1]), []).append((words, key))
            elif words[0].endswith("*"):
                self.prefix.setdefault(words[0][:-1], []).append(key)
            else:
                self.exact.setdefault(words[0], []).append(key)
        self.prefix_lengths = sorted({len(p) for p in self.prefix})
        self._unigram: dict[str, tuple[int, ...]] = {}
        self._heads: dict[str, tuple[tuple[tuple[str, ...], int], ...]] = {}

    def unigram(self, word: str) -> tuple[int, ...]:
        """Keys of the one-word terms ``word`` matches (cached)."""
        hits = self._unigram.get(word)
        if hits is None:
            found = list(self.exact.get(word, ()))
            for n in self.prefix_lengths:
                if n > len(word):
                    break
                found.extend(self.prefix.get(word[:n], ()))
            hits = self._unigram[word] = tuple(found)
            if len(self._unigram) > 500_000:
                self._unigram.clear()
        return hits

    def heads(self, word: str) -> tuple[tuple[tuple[str, ...], int], ...]:
        """Multi-word terms whose first word (exact or prefix) is ``word`` and whose second
        word is a prefix (cached)."""
        found = self._heads.get(word)
        if found is None:
            found = self._heads[word] = tuple(
                item for head, items in self.by_head.items() if _word_match(head, word)
                for item in items)
            if len(self._heads) > 500_000:
                self._heads.clear()
        return found


INDEX = _Index([(term, KEY_INDEX[(f, lab)]) for f, table in LEXICON.items()
                for lab, terms in table.items() for term in terms]
               + [(term, KEY_INDEX[("cue", name)]) for name, terms in CUES.items()
                  for term in terms])


def _matches(pattern: tuple[str, ...], words: Sequence[str], i: int) -> bool:
    return i + len(pattern) <= len(words) and all(
        _word_match(p, words[i + j]) for j, p in enumerate(pattern))


def count_tokens(words: Sequence[str], out: MutableSequence[int] | dict[int, int]) -> None:
    """Add the counts of every lexicon key found in ``words`` to ``out`` (a list indexed by
    key, or a dict ``{key: count}``)."""
    index = INDEX
    uni_cache = index._unigram
    head_cache = index._heads
    by_bigram = index.by_bigram
    n = len(words)
    hits: list[int] = []
    for i, word in enumerate(words):
        found = uni_cache.get(word)
        if found is None:
            found = index.unigram(word)
        if found:
            hits.extend(found)
        if i + 1 < n:
            pairs = by_bigram.get((word, words[i + 1]))
            if pairs:
                hits.extend(key for pattern, key in pairs
                            if len(pattern) == 2 or _matches(pattern, words, i))
        heads = head_cache.get(word)
        if heads is None:
            heads = index.heads(word)
        if heads:
            hits.extend(key for pattern, key in heads if _matches(pattern, words, i))
    if isinstance(out, dict):
        for key in hits:
            out[key] = out.get(key, 0) + 1
    else:
        for key in hits:
            out[key] += 1


def count(text: str) -> list[int]:
    """Counts of every lexicon key in ``text``."""
    out = [0] * len(KEYS)
    count_tokens(tokens(text), out)
    return out


def label_terms(facet: str, label: str) -> tuple[str, ...]:
    return LEXICON[facet][label]
