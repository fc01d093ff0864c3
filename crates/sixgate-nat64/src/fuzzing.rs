//! Checks shared by the fuzz targets and their corpus-replay tests (being built).
