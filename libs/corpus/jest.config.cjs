'use strict';
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'corpus',
  rootDir: __dirname,
};
