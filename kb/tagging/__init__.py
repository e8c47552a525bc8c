"""Tagging: metadata rules, a keyword baseline and a scikit-learn classifier for the taxonomy.

Modules: ``features`` (documents and feature extraction), ``metadata`` (MeSH / publication
type / registry field rules), ``baseline`` (regular expressions per label), ``model`` (the
classifier and its persistence), ``train`` (training data, cross-validation, thresholds),
``evaluate`` (metrics), ``combine`` (metadata + model + human into effective tags) and
``service`` (tagging records in the database).
"""
