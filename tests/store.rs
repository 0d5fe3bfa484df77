// Tests are being written (issue 3).
