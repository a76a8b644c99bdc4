"""Shared test code: fakes, contract suites, fake servers and fixture builders."""
