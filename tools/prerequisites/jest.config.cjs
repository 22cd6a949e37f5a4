'use strict';
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'prerequisites',
  rootDir: __dirname,
};
