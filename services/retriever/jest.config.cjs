'use strict';
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'retriever',
  rootDir: __dirname,
};
