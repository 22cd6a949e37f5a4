'use strict';
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'ranker',
  rootDir: __dirname,
};
