"""Catalog SQL: view definitions here, parameterised queries in `queries/` (package data)."""
