// Tests are being written (issue 4).
